"""Bad data and bad config at the run's level: a run stops before training on a
classes mismatch, trains through bad data, and bad model arguments raise
errors naming the key. The data is the injected copy of ``faulty_coco``; the
checks themselves are tested in ``test_checked_coco.py`` and the modules'
tests.
"""
from pathlib import Path

import pytest
import torch
from faulty_coco import CLASSES, BadCopy, bad_copy  # noqa: F401  (fixture)
from mmengine.config import Config
from mmengine.runner import Runner

from ssd_ext.data import CheckedCocoDataset
from ssd_ext.engine.data_checks_hook import (DatasetModelMismatchError,
                                             check_consistency)
from ssd_ext.registry import MODELS, TASK_UTILS


# ---------------------------------------------------- classes vs the model head
def test_consistency_check_names_numbers_and_keys():
    class Head:
        num_classes = 3

    class Model(torch.nn.Module):
        bbox_head = Head()

    class Data:
        metainfo = dict(classes=CheckedCocoDataset.METAINFO['classes'])

    with pytest.raises(DatasetModelMismatchError) as info:
        check_consistency(Model(), [('train_dataloader.dataset', Data())])
    msg = str(info.value)
    assert 'has 80 classes but model.bbox_head.num_classes = 3' in msg
    assert 'train_dataloader.dataset.metainfo' in msg
    Data.metainfo = dict(classes=('a', 'b', 'c'))
    check_consistency(Model(), [('train_dataloader.dataset', Data())])


def quickstart_cfg(repo_root: Path, copy: BadCopy, work_dir: Path) -> Config:
    cfg = Config.fromfile(repo_root / 'configs' / 'quickstart' / 'ssd160_shapes.py')
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(type='CheckedCocoDataset', data_root=str(copy.root),
                              ann_file='annotations/train.json',
                              data_prefix=dict(img='train2017/'))
    cfg.val_evaluator.update(type='CheckedCocoMetric', ann_file=str(copy.ann_file))
    cfg.test_evaluator = cfg.val_evaluator
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.pop('visualization')
    cfg.custom_hooks = [dict(type='DatasetModelConsistencyHook')]
    return cfg


@pytest.mark.parametrize('split, step', [('train', 'train_step'), ('test', 'test_step')])
def test_runner_stops_before_the_first_step_on_classes_mismatch(repo_root, bad_copy,
                                                                 tmp_path, split, step):
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    # The quickstart head has 3 classes; these datasets list 7.
    for name in ('train', 'val', 'test'):
        cfg[f'{name}_dataloader'].dataset.metainfo = dict(classes=CLASSES)
    runner = Runner.from_cfg(cfg)
    calls = []
    setattr(runner.model, step, lambda *a, **k: calls.append(1))
    with pytest.raises(DatasetModelMismatchError) as info:
        getattr(runner, split)()  # runner.train() or runner.test()
    assert f'{split}_dataloader.dataset has 7 classes but model.bbox_head.num_classes = 3' \
        in str(info.value)
    assert not calls  # raised before the first iteration


def test_ssd_trains_through_bad_data(repo_root, bad_copy, tmp_path, logs):
    """Real SSD160, two iterations over the bad copy and a validation: the
    truncated image is skipped, bad boxes never reach the loss or the metric."""
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    cfg.model.bbox_head.num_classes = len(CLASSES)
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].dataset.metainfo = dict(classes=CLASSES)
    # 2 iterations of 2 = one shuffled pass over the 4 usable training images.
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.checkpoint.update(interval=1000, save_last=False)
    cfg.custom_hooks.append(dict(type='NonFiniteLossHook'))
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert runner.train_dataloader.dataset.bad_sample_count >= 1
    assert any(bad_copy.truncated['file_name'] in m for _, m in logs if 'skipping' in m)
    # Validation ran at the end on the same bad file: CocoMetric would crash in
    # pycocotools on the 3-number bbox; CheckedCocoMetric left it out.
    assert 'val/coco/bbox_mAP' in runner.message_hub.log_scalars


# -------------------------------------------------------------------- bad config
HEAD = dict(type='MultiBoxHead', num_classes=3, in_channels=(8, 8),
            prior_generator=dict(type='PriorBoxGenerator', input_size=64,
                                 strides=[8, 16], ratios=[[2], [2]],
                                 min_sizes=[10, 20], max_sizes=[20, 40]))


def test_head_unknown_cfg_key_names_key_and_allowed():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(HEAD, train_cfg=dict(bogus=1)))
    msg = str(info.value)
    assert "['bogus']" in msg and 'pos_iou_thr' in msg and 'neg_pos_ratio' in msg
    with pytest.raises(KeyError, match='nms_thr'):
        MODELS.build(dict(HEAD, test_cfg=dict(nms_thr=0.5)))
    with pytest.raises(TypeError, match='num_classes must be an int'):
        MODELS.build(dict(HEAD, num_classes='3'))


@pytest.mark.parametrize('override, match', [
    (dict(ratios=[[-2], [2]]), 'ratios must be a positive number'),
    (dict(strides=[8]), 'strides has 1 levels but ratios has 2'),
    (dict(min_sizes=[10]), 'min_sizes has 1 levels'),
    (dict(offset=2), r'offset must be in \[0, 1\]'),
    (dict(min_sizes=None), 'needs either min_sizes or both scale_range and input_size'),
])
def test_prior_generator_bad_values(override, match):
    with pytest.raises(ValueError, match=match):
        TASK_UTILS.build(dict(HEAD['prior_generator'], **override))


def test_backbone_and_neck_bad_arguments():
    with pytest.raises(TypeError, match='bogus'):
        MODELS.build(dict(type='VGG16ReducedFC', bogus=1))
    with pytest.raises(ValueError, match='frozen_stages must be in'):
        MODELS.build(dict(type='VGG16ReducedFC', frozen_stages=9))
    with pytest.raises(ValueError, match='need as many level_strides and level_paddings'):
        MODELS.build(dict(type='SSDExtraLayers', level_strides=(2, 2, 1)))
    with pytest.raises(ValueError, match='must start with in_channels'):
        MODELS.build(dict(type='SSDExtraLayers', in_channels=(256, 1024)))


@pytest.mark.parametrize('dataset_type', ['CheckedCocoDataset', 'CocoDataset'])
def test_wrong_ann_file_in_config_names_the_path(repo_root, bad_copy, tmp_path,
                                                 dataset_type):
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    cfg.train_dataloader.dataset.update(type=dataset_type, ann_file='annotations/nope.json')
    with pytest.raises(FileNotFoundError) as info:
        Runner.build_dataloader(cfg.train_dataloader)
    assert str(bad_copy.root / 'annotations' / 'nope.json') in str(info.value)
