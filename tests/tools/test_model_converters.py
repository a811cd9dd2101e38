"""Weight conversion (``ssd_ext/models/weight_conversion.py``) and its CLIs.

Nothing can be downloaded, so every source checkpoint is made here with random
values: a torchvision ``vgg16`` state dict (built by key and shape, without
torchvision), a Caffe ``vgg16_reducedfc`` one and MMDetection's own SSD300/512.
Values are compared exactly: the conversions only copy and subsample.
"""
import re
import subprocess
import sys
from typing import Dict

import pytest
import torch
from conftest import REPO_ROOT, load_script
from mmengine.config import Config
from torch import Tensor, nn

from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC
from ssd_ext.models.weight_conversion import (mmdet_ssd_to_ssd_ext, unwrap_state_dict,
                                              vgg16_to_backbone)

# torchvision vgg16().features: (index, in_channels, out_channels) of the 13 convs
# (each followed by its ReLU) and the indices of the 2x2 max pools.
VGG16_CONVS = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128),
               (10, 128, 256), (12, 256, 256), (14, 256, 256),
               (17, 256, 512), (19, 512, 512), (21, 512, 512),
               (24, 512, 512), (26, 512, 512), (28, 512, 512))
VGG16_POOLS = (4, 9, 16, 23)
CONV4_3_RELU = 22
CONFIGS = {300: 'configs/ssd300.py', 512: 'configs/ssd512.py'}
MMDET_TOOL = 'tools/model_converters/mmdet_to_ssd_ext.py'
VGG_TOOL = 'tools/model_converters/vgg16_to_ssd_ext.py'


def torchvision_vgg16_state_dict(seed: int = 0) -> Dict[str, Tensor]:
    """Random weights in torchvision's ``vgg16`` layout (keys, shapes, order).

    Conv weights are He-scaled so activations stay finite through conv4_3.
    """
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for i, cin, cout in VGG16_CONVS:
        sd[f'features.{i}.weight'] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        sd[f'features.{i}.bias'] = torch.randn(cout, generator=g) * 0.1
    for i, (cout, cin) in zip((0, 3, 6), ((4096, 512 * 7 * 7), (4096, 4096), (1000, 4096))):
        sd[f'classifier.{i}.weight'] = torch.randn(cout, cin, generator=g)
        sd[f'classifier.{i}.bias'] = torch.randn(cout, generator=g)
    return sd


@pytest.fixture(scope='module')
def tv_vgg16() -> Dict[str, Tensor]:
    return torchvision_vgg16_state_dict()


def run_tool(repo_root, tool, *args, cwd):
    """Runs a converter CLI from ``cwd`` (not the repo root); returns its stdout."""
    proc = subprocess.run([sys.executable, str(repo_root / tool), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f'{tool} failed:\n{proc.stdout}\n{proc.stderr}'
    return proc.stdout


# --------------------------------------------------------------------------- VGG16

def test_torchvision_vgg16_exact_values(tv_vgg16):
    converted = vgg16_to_backbone(tv_vgg16)
    backbone = VGG16ReducedFC()
    result = backbone.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(converted) == set(backbone.state_dict())

    for i, _, _ in VGG16_CONVS:
        for kind in ('weight', 'bias'):
            key = f'features.{i}.{kind}'
            assert torch.equal(converted[key], tv_vgg16[key]), key
            assert torch.equal(backbone.state_dict()[key], tv_vgg16[key]), key

    fc6_w = tv_vgg16['classifier.0.weight'].view(4096, 512, 7, 7)[::4, :, ::3, ::3]
    fc6_b = tv_vgg16['classifier.0.bias'][::4]
    fc7_w = tv_vgg16['classifier.3.weight'][::4, ::4].reshape(1024, 1024, 1, 1)
    fc7_b = tv_vgg16['classifier.3.bias'][::4]
    state = backbone.state_dict()
    assert state['features.31.weight'].shape == (1024, 512, 3, 3)
    assert state['features.33.weight'].shape == (1024, 1024, 1, 1)
    for key, expected in (('features.31.weight', fc6_w), ('features.31.bias', fc6_b),
                          ('features.33.weight', fc7_w), ('features.33.bias', fc7_b)):
        assert torch.equal(converted[key], expected), key
        assert torch.equal(state[key], expected), key
    # spot checks by hand, independent of slicing: fc6 output 4k, tap (3i, 3j)
    flat = tv_vgg16['classifier.0.weight']
    assert converted['features.31.weight'][5, 7, 2, 1] == flat[20, 7 * 49 + 6 * 7 + 3]
    assert converted['features.33.weight'][3, 9, 0, 0] == tv_vgg16['classifier.3.weight'][12, 36]
    # classifier.6 (the 1000-way ImageNet layer) is dropped
    assert not any('classifier' in k for k in converted)


def test_torchvision_vgg16_conv4_3_matches_plain_vgg(tv_vgg16):
    """The converted backbone's conv4_3 equals torchvision's features[:23] output,
    which proves the layer indices line up (not just the key names)."""
    layers = []
    convs = {i: (cin, cout) for i, cin, cout in VGG16_CONVS}
    for i in range(CONV4_3_RELU + 1):
        if i in convs:
            layers.append(nn.Conv2d(*convs[i], 3, padding=1))
        elif i in VGG16_POOLS:
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.ReLU(inplace=True))
    reference = nn.Sequential(*layers)
    reference.load_state_dict({f'{i}.{kind}': tv_vgg16[f'features.{i}.{kind}']
                               for i in convs if i < CONV4_3_RELU
                               for kind in ('weight', 'bias')}, strict=True)

    backbone = VGG16ReducedFC()
    backbone.load_state_dict(vgg16_to_backbone(tv_vgg16), strict=True)
    backbone.eval(), reference.eval()
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        conv4_3, fc7 = backbone(x)
        expected = reference(x)
    assert conv4_3.shape == (2, 512, 8, 6)
    assert fc7.shape == (2, 1024, 4, 3)
    assert expected.abs().max() > 0  # not a degenerate all-zero comparison
    torch.testing.assert_close(conv4_3, expected, rtol=0, atol=0)


def test_caffe_vgg16_reducedfc_round_trip():
    torch.manual_seed(2)
    source = VGG16ReducedFC()
    source.init_weights()
    caffe = {k[len('features.'):]: v.clone() for k, v in source.state_dict().items()}
    assert '31.weight' in caffe and caffe['31.weight'].shape == (1024, 512, 3, 3)
    assert caffe['33.weight'].shape == (1024, 1024, 1, 1)

    converted = vgg16_to_backbone(caffe)
    assert set(converted) == {f'features.{k}' for k in caffe}
    target = VGG16ReducedFC()
    target.load_state_dict(converted, strict=True)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_vgg16_neither_layout_raises():
    with pytest.raises(KeyError, match=re.escape("'classifier.0.weight'")) as info:
        vgg16_to_backbone({'conv1.weight': torch.zeros(1), 'conv1.bias': torch.zeros(1)})
    message = str(info.value)
    assert 'not a VGG16 state dict' in message
    assert "'31.weight'" in message and "'features.0.weight'" in message
    assert 'conv1.weight' in message  # shows what it got


def test_vgg16_wrong_fc6_shape_raises():
    sd = {f'features.{i}.{kind}': torch.zeros(1)
          for i, _, _ in VGG16_CONVS for kind in ('weight', 'bias')}
    sd.update({'classifier.0.weight': torch.zeros(4096, 512 * 3 * 3),
               'classifier.0.bias': torch.zeros(4096),
               'classifier.3.weight': torch.zeros(4096, 4096),
               'classifier.3.bias': torch.zeros(4096)})
    with pytest.raises(ValueError, match=re.escape('classifier.0.weight')):
        vgg16_to_backbone(sd)


def test_vgg16_missing_conv_raises(tv_vgg16):
    sd = dict(tv_vgg16)
    del sd['features.19.bias']
    with pytest.raises(KeyError, match=re.escape("'features.19.bias'")):
        vgg16_to_backbone(sd)


def test_vgg16_cli_output_is_a_pretrained_init(tv_vgg16, tmp_path, repo_root):
    from mmdet.registry import MODELS
    src, dst = tmp_path / 'vgg16_tv.pth', tmp_path / 'out' / 'vgg16_ssd.pth'
    dst.parent.mkdir()
    torch.save(tv_vgg16, src)  # torchvision saves a bare state dict
    out = run_tool(repo_root, VGG_TOOL, src, dst, cwd=tmp_path)
    assert 'wrote 30 tensors' in out

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'state_dict'}
    expected = vgg16_to_backbone(tv_vgg16)
    assert set(ckpt['state_dict']) == set(expected)

    backbone = MODELS.build(dict(type='VGG16ReducedFC',
                                 init_cfg=dict(type='Pretrained', checkpoint=str(dst))))
    assert isinstance(backbone, VGG16ReducedFC)
    backbone.init_weights()
    fc6 = backbone.features[31].weight.detach()
    assert torch.equal(fc6[1, 2], tv_vgg16['classifier.0.weight'].view(4096, 512, 7, 7)[4, 2, ::3, ::3])
    # Pretrained loads non-strictly: make sure nothing was silently left at random
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, expected[key]), key


# --------------------------------------------------------------------- MMDetection

def expected_ssd_ext_key(mmdet_key: str) -> str:
    """The conversion written out independently of the converter's regexes."""
    parts = mmdet_key.split('.')
    if parts[:2] == ['neck', 'extra_layers'] and parts[4] == 'conv':
        # ConvModule(conv, relu) pairs -> Sequential(conv, relu, conv, relu)
        return '.'.join(['neck', 'extra_layers', parts[2], str(2 * int(parts[3])), parts[5]])
    if parts[0] == 'bbox_head' and parts[1] in ('cls_convs', 'reg_convs'):
        assert parts[3] == '0'
        return '.'.join(parts[:3] + parts[4:])
    return mmdet_key


def randomised_mmdet_ssd(size: int, seed: int):
    """MMDetection's SSD with every tensor random (its init leaves biases at 0
    and the L2Norm weight at 20, which a wrong mapping could still match)."""
    # The benchmark tools' reference builder (tools/ is no package).
    mmdet_reference = load_script(REPO_ROOT / 'tools' / 'analysis' / 'mmdet_reference.py')
    model = mmdet_reference.build_mmdet_ssd(size)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.randn(value.shape, generator=g))
    return model


def build_ssd_ext(size: int, repo_root):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(repo_root / CONFIGS[size]))
    return MODELS.build(cfg.model)


def check_same_tensors(ours: nn.Module, mmdet_state: Dict[str, Tensor]) -> None:
    ours_state = ours.state_dict()
    mapped = {expected_ssd_ext_key(k): v for k, v in mmdet_state.items()}
    assert len(mapped) == len(mmdet_state)
    assert set(mapped) == set(ours_state)
    for key, value in ours_state.items():
        assert torch.equal(value, mapped[key]), key


def test_mmdet_cli_ssd300(tmp_path, repo_root):
    size = 300
    ref = randomised_mmdet_ssd(size, seed=3)
    mmdet_state = {k: v.clone() for k, v in ref.state_dict().items()}
    src, dst = tmp_path / 'mmdet_ssd300.pth', tmp_path / 'ssd_ext_ssd300.pth'
    torch.save({'state_dict': mmdet_state, 'meta': {}}, src)
    out = run_tool(repo_root, MMDET_TOOL, src, dst, cwd=tmp_path)
    assert f'wrote {len(mmdet_state)} tensors' in out

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    ours = build_ssd_ext(size, repo_root)
    result = ours.load_state_dict(ckpt['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    check_same_tensors(ours, mmdet_state)
    state = ours.state_dict()
    for ours_key, mmdet_key in (
            ('neck.extra_layers.0.2.weight', 'neck.extra_layers.0.1.conv.weight'),
            ('neck.extra_layers.3.0.bias', 'neck.extra_layers.3.0.conv.bias'),
            ('neck.l2_norm.weight', 'neck.l2_norm.weight'),
            ('bbox_head.cls_convs.3.weight', 'bbox_head.cls_convs.3.0.weight'),
            ('bbox_head.reg_convs.5.bias', 'bbox_head.reg_convs.5.0.bias'),
            ('backbone.features.31.weight', 'backbone.features.31.weight')):
        assert torch.equal(state[ours_key], mmdet_state[mmdet_key]), ours_key


def test_mmdet_to_ssd_ext_ssd512(repo_root):
    ref = randomised_mmdet_ssd(512, seed=4)
    mmdet_state = ref.state_dict()
    converted = mmdet_ssd_to_ssd_ext(mmdet_state)
    ours = build_ssd_ext(512, repo_root)
    ours.load_state_dict(converted, strict=True)
    check_same_tensors(ours, mmdet_state)
    state = ours.state_dict()
    # SSD512's 5th extra level (4x4 kernel) and 7th head level exist only at 512
    assert state['neck.extra_layers.4.2.weight'].shape[-1] == 4
    assert torch.equal(state['neck.extra_layers.4.2.weight'],
                       mmdet_state['neck.extra_layers.4.1.conv.weight'])
    assert torch.equal(state['bbox_head.cls_convs.6.weight'],
                       mmdet_state['bbox_head.cls_convs.6.0.weight'])


def test_mmdet_unknown_key_raises():
    sd = {'backbone.features.0.weight': torch.zeros(1), 'foo.weight': torch.zeros(1)}
    with pytest.raises(KeyError, match=re.escape("'foo.weight'")):
        mmdet_ssd_to_ssd_ext(sd)


# ----------------------------------------------------------------------- unwrapping

def test_unwrap_state_dict():
    sd = {'a': torch.zeros(1)}
    assert unwrap_state_dict({'state_dict': sd, 'meta': {}}) is sd
    assert unwrap_state_dict({'model': sd}) is sd
    assert unwrap_state_dict(sd) is sd
    with pytest.raises(ValueError, match='no state dict'):
        unwrap_state_dict({'meta': {'epoch': 3}})
