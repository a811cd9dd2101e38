"""``ssd_ext/utils/inference_input.py``: the test pipeline for plain images,
and the fixed network input size an export reads from it or sets in it."""
import pytest
from mmengine.config import Config

from ssd_ext.utils.inference_input import (inference_pipeline_cfg, input_size_from_cfg,
                                           set_input_size)


def config(resize: dict) -> Config:
    pipeline = [dict(type='LoadImageFromFile'), resize,
                dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]
    return Config(dict(test_dataloader=dict(dataset=dict(type='CocoDataset',
                                                         pipeline=pipeline))))


def test_inference_pipeline_drops_annotation_loading_only():
    cfg = config(dict(type='Resize', scale=(300, 300), keep_ratio=False))
    types = [t['type'] for t in inference_pipeline_cfg(cfg)]
    assert types == ['LoadImageFromFile', 'Resize', 'PackDetInputs']
    assert len(cfg.test_dataloader.dataset.pipeline) == 4  # the config is left alone


@pytest.mark.parametrize('scale, size', [((320, 240), (240, 320)), (300, (300, 300))])
def test_input_size_is_h_w_of_the_resize(scale, size):
    assert input_size_from_cfg(config(dict(type='Resize', scale=scale))) == size


@pytest.mark.parametrize('resize, message', [
    (dict(type='Resize', scale=(1333, 800), keep_ratio=True), 'keep_ratio=True'),
    (dict(type='Resize', scale_factor=0.5), "Resize has no 'scale'"),
    (dict(type='RandomFlip', prob=0.5), 'no Resize in the test pipeline'),
])
def test_input_size_refuses_pipelines_without_a_fixed_size(resize, message):
    with pytest.raises(ValueError, match=message):
        input_size_from_cfg(config(resize))


def test_set_input_size_makes_a_fixed_size_resize():
    cfg = config(dict(type='Resize', scale=(1333, 800), keep_ratio=True))
    set_input_size(cfg, (240, 320))
    assert input_size_from_cfg(cfg) == (240, 320)
    with pytest.raises(ValueError, match='no Resize'):
        set_input_size(config(dict(type='RandomFlip', prob=0.5)), (240, 320))
