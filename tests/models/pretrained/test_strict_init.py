"""``StrictPretrained`` (``strict_init.py``): every tensor from a checked file,
or an error naming what is wrong; the paper configs use it by default."""
import re
from pathlib import Path
from typing import List

import pytest
import torch
from mmengine.config import Config

import ssd_ext.models.pretrained.strict_init as strict_init
from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC
from ssd_ext.models.pretrained.checksum import save_checked, sha256_of
from ssd_ext.models.pretrained.locate import WeightsNotFoundError
from ssd_testkit.vgg16_files import mmcv_vgg16_caffe, save_hub_named

PAPER_CONFIGS = ('ssd300.py', 'ssd512.py', 'ssd300_expand_aug.py', 'ssd512_expand_aug.py',
                 'ssd300_voc0712.py')
FROM_SCRATCH_CONFIGS = ('configs/bccd/ssd300_bccd.py', 'configs/quickstart/ssd160_shapes.py',
                        'tests/configs/ssd300_voc0712_bccd.py')


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty ``$TORCH_HOME/hub/checkpoints``: nothing pretrained on this machine."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    folder = tmp_path / 'torch' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def logged(monkeypatch) -> List[str]:
    lines = []
    monkeypatch.setattr(strict_init, 'print_log', lambda msg, logger=None: lines.append(msg))
    return lines


def build_backbone(checkpoint, **kwargs) -> VGG16ReducedFC:
    from mmdet.registry import MODELS
    return MODELS.build(dict(type='VGG16ReducedFC', init_cfg=dict(
        type='StrictPretrained', checkpoint=str(checkpoint), **kwargs)))


def build_detector(repo_root, config, **overrides):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(repo_root / config))
    cfg.merge_from_dict(overrides)
    return MODELS.build(cfg.model)


def test_good_file_loads_every_tensor_and_changes_the_output(tmp_path, logged):
    sd = mmcv_vgg16_caffe()
    path = save_hub_named(sd, tmp_path, 'vgg16_caffe')
    torch.manual_seed(0)
    backbone = build_backbone(path)
    x = torch.rand(1, 3, 64, 64) * 255 - 120
    with torch.no_grad():
        before = backbone(x)[1].clone()
    backbone.init_weights()
    state = backbone.state_dict()
    assert set(state) == set(sd)
    for key, value in sd.items():
        assert torch.equal(state[key], value), key
    with torch.no_grad():
        assert not torch.allclose(backbone(x)[1], before)
    assert any(f'loaded 30 tensors of VGG16ReducedFC from {path}' in line
               and 'matches the hash prefix in its file name' in line for line in logged)


def saved(tmp_path, sd, stem='vgg16_caffe') -> Path:
    return save_hub_named(sd, tmp_path, stem)


def test_missing_key_is_an_error_naming_it(tmp_path):
    sd = mmcv_vgg16_caffe()
    del sd['features.21.bias']
    with pytest.raises(KeyError, match=re.escape('1 missing from the file: features.21.bias')):
        build_backbone(saved(tmp_path, sd)).init_weights()


def test_unexpected_key_is_an_error_unless_ignored(tmp_path, logged):
    sd = mmcv_vgg16_caffe()
    sd['classifier.0.weight'] = torch.zeros(10, 4)
    path = saved(tmp_path, sd)
    with pytest.raises(KeyError, match=re.escape('1 unexpected: classifier.0.weight')) as info:
        build_backbone(path).init_weights()
    assert 'ignore=(PREFIX,)' in str(info.value)
    backbone = build_backbone(path, ignore=('classifier.',))
    backbone.init_weights()
    assert torch.equal(backbone.features[0].weight, sd['features.0.weight'])
    assert any('not loaded' in line and 'classifier.0.weight' in line for line in logged)


def test_wrong_shape_is_an_error_naming_both_shapes(tmp_path):
    sd = mmcv_vgg16_caffe()
    sd['features.33.weight'] = torch.zeros(1024, 512, 1, 1)
    with pytest.raises(KeyError, match=re.escape(
            'features.33.weight: (1024, 512, 1, 1) in the file, (1024, 1024, 1, 1) in the model')):
        build_backbone(saved(tmp_path, sd)).init_weights()


def test_non_finite_value_is_an_error_naming_the_tensor(tmp_path):
    sd = mmcv_vgg16_caffe()
    sd['features.26.weight'][3, 0, 1, 1] = float('nan')
    with pytest.raises(ValueError, match=re.escape('features.26.weight has 1 non-finite')):
        build_backbone(saved(tmp_path, sd)).init_weights()


def test_hash_mismatch_is_an_error(tmp_path):
    path = tmp_path / 'vgg16_caffe-292e1171.pth'  # the published name, other content
    torch.save(mmcv_vgg16_caffe(), path)
    backbone = build_backbone(path)
    before = backbone.features[0].weight.clone()
    with pytest.raises(ValueError, match='does not match 292e1171'):
        backbone.init_weights()
    assert torch.equal(backbone.features[0].weight, before)  # nothing loaded


def test_explicit_sha256_is_checked(tmp_path):
    path = tmp_path / 'vgg16_local.pth'
    torch.save(mmcv_vgg16_caffe(), path)
    build_backbone(path, sha256=sha256_of(path)).init_weights()
    with pytest.raises(ValueError, match="does not match 00000000 \\(the config's sha256\\)"):
        build_backbone(path, sha256='00000000').init_weights()


class NotWeights:
    """Stands for pickled code: a class weights-only loading does not allow."""


def test_pickle_with_code_is_refused_even_when_its_hash_matches(tmp_path):
    path = saved(tmp_path, {'state_dict': mmcv_vgg16_caffe(), 'payload': NotWeights()})
    with pytest.raises(RuntimeError, match='refusing to load .* not a weights-only checkpoint'):
        build_backbone(path).init_weights()


def test_absent_file_offline_says_what_to_fetch(repo_root, hub):
    model = build_detector(repo_root, 'configs/ssd300.py')
    with pytest.raises(WeightsNotFoundError) as info:
        model.init_weights()
    message = str(info.value)
    assert 'vgg16_caffe-292e1171.pth' in message and str(hub) in message
    assert 'https://download.openmmlab.com/pretrain/third_party/' in message
    assert 'model.backbone.init_cfg=None' in message


@pytest.mark.parametrize('config', PAPER_CONFIGS)
def test_paper_configs_start_from_imagenet_vgg16(repo_root, config):
    cfg = Config.fromfile(str(repo_root / 'configs' / config))
    assert cfg.model.backbone.init_cfg == dict(type='StrictPretrained',
                                               checkpoint='open-mmlab://vgg16_caffe')


@pytest.mark.parametrize('config', FROM_SCRATCH_CONFIGS)
def test_from_scratch_configs_say_so(repo_root, config):
    assert Config.fromfile(str(repo_root / config)).model.backbone.init_cfg is None


def test_paper_detector_loads_the_cached_open_mmlab_file(repo_root, hub, logged):
    """configs/ssd300.py end to end: the file in torch.hub's cache (a random one,
    so its digest is given in place of the real file's name prefix)."""
    sd = mmcv_vgg16_caffe(seed=1)
    path = hub / 'vgg16_caffe-292e1171.pth'
    torch.save(sd, path)
    model = build_detector(repo_root, 'configs/ssd300.py',
                           **{'model.backbone.init_cfg.sha256': sha256_of(path)})
    model.init_weights()
    for key, value in sd.items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    assert torch.all(model.neck.l2_norm.weight == 20)  # the neck's own init, not the file's
    assert any(str(path) in line and "the config's sha256" in line for line in logged)


def test_finetune_loads_all_but_the_class_logits_and_logs_each(repo_root, tmp_path, logged):
    """configs/bccd/ssd300_bccd_finetune.py from a (random) converted COCO SSD300:
    80 classes in the file, 3 here."""
    coco = build_detector(repo_root, 'configs/ssd300.py')
    g = torch.Generator().manual_seed(2)
    coco_state = {k: torch.randn(v.shape, generator=g) for k, v in coco.state_dict().items()}
    path = tmp_path / 'checkpoints' / 'ssd300_coco_mmdet.pth'
    save_checked(coco_state, {'converted_from': 'test'}, path)

    model = build_detector(repo_root, 'configs/bccd/ssd300_bccd_finetune.py',
                           **{'model.init_cfg.checkpoint': str(path)})
    model.init_weights()
    state = model.state_dict()
    reinit = sorted(k for k in state if k.startswith('bbox_head.cls_convs.'))
    assert len(reinit) == 12  # weight and bias of six levels
    for key, value in state.items():
        if key in reinit:
            assert value.shape != coco_state[key].shape, key
        else:
            assert torch.equal(value, coco_state[key]), key
    for key in reinit:
        line = next(line for line in logged if f're-initialised {key}:' in line)
        assert 'another class count' in line and str(tuple(state[key].shape)) in line
    loaded = len(state) - len(reinit)
    assert any(f'loaded {loaded} tensors of SingleStageDetector' in line for line in logged)


def test_reinit_prefix_that_matches_nothing_is_an_error(tmp_path):
    path = saved(tmp_path, mmcv_vgg16_caffe())
    with pytest.raises(KeyError, match=re.escape("reinit=('bbox_head.cls_convs.',) matches")):
        build_backbone(path, reinit='bbox_head.cls_convs.').init_weights()
