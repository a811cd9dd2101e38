"""The weight converter CLIs (``tools/model_converters/``).

Nothing can be downloaded, so every source checkpoint is made here with random
values in its real layout: torchvision's VGG16
(``tests/ssd_testkit/vgg16_files.py``; the conversion itself is tested in
``tests/models/zoo/test_imagenet_vgg16.py``) and MMDetection's own SSD300/512.
The MMDetection conversion only copies, so values are compared exactly.
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
from ssd_ext.models.pretrained.checksum import sha256_of, sidecar_path
from ssd_ext.models.weight_conversion import mmdet_ssd_to_ssd_ext, unwrap_state_dict
from ssd_ext.models.weight_conversion.imagenet_vgg16 import convert_vgg16
from ssd_testkit import vgg16_files

CONFIGS = {300: 'configs/ssd300.py', 512: 'configs/ssd512.py'}
MMDET_TOOL = 'tools/model_converters/mmdet_to_ssd_ext.py'
VGG_TOOL = 'tools/model_converters/vgg16_to_ssd_ext.py'


def run_tool(repo_root, tool, *args, cwd):
    """Runs a converter CLI from ``cwd`` (not the repo root); returns its stdout."""
    proc = subprocess.run([sys.executable, str(repo_root / tool), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f'{tool} failed:\n{proc.stdout}\n{proc.stderr}'
    return proc.stdout


# --------------------------------------------------------------------------- VGG16

def test_vgg16_cli_output_loads_strictly_and_checked(tmp_path, repo_root):
    """torchvision's V1 file, named as published (hash prefix): checked, folded,
    saved with its .sha256, and StrictPretrained loads every tensor from it."""
    from mmdet.registry import MODELS
    sd = vgg16_files.torchvision_v1()
    src = vgg16_files.save_hub_named(sd, tmp_path, 'vgg16')  # torchvision: a bare state dict
    dst = tmp_path / 'out' / 'vgg16_ssd.pth'
    out = run_tool(repo_root, VGG_TOOL, src, dst, cwd=tmp_path)
    assert 'matches the hash prefix in its file name' in out
    assert 'identified: torchvision VGG16 IMAGENET1K_V1' in out
    assert 'conv1_1: folded the input convention in' in out
    assert 'wrote 30 tensors' in out

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'state_dict', 'meta'}
    assert ckpt['meta']['converted_from'] == src.name
    digest = sha256_of(dst)
    assert sidecar_path(dst).read_text() == f'{digest}  {dst.name}\n'
    assert digest in out

    expected, _ = convert_vgg16(sd)
    backbone = MODELS.build(dict(type='VGG16ReducedFC',
                                 init_cfg=dict(type='StrictPretrained', checkpoint=str(dst))))
    assert isinstance(backbone, VGG16ReducedFC)
    backbone.init_weights()
    state = backbone.state_dict()
    assert set(state) == set(expected)
    for key, value in state.items():
        assert torch.equal(value, expected[key]), key


def test_vgg16_cli_refuses_a_source_whose_hash_does_not_match(tmp_path, repo_root):
    src = tmp_path / 'vgg16-397923af.pth'  # torchvision's name, other content
    torch.save(vgg16_files.torchvision_v1(), src)
    proc = subprocess.run([sys.executable, str(repo_root / VGG_TOOL), str(src),
                           str(tmp_path / 'dst.pth')], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert 'does not match 397923af' in proc.stderr
    assert not (tmp_path / 'dst.pth').exists()


def test_vgg16_cli_initialises_nan_fc_and_says_so(tmp_path, repo_root):
    src = vgg16_files.save_hub_named(vgg16_files.torchvision_features(), tmp_path,
                                     'vgg16_features-amdegroot')
    out = run_tool(repo_root, VGG_TOOL, src, tmp_path / 'dst.pth', '--seed', '7',
                   cwd=tmp_path)
    assert 'the classifier is NaN' in out and 'seed 7' in out
    state = torch.load(tmp_path / 'dst.pth', weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values())


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
    # named as MMDetection publishes (...-d231a06e.pth): the tool checks the prefix
    src = vgg16_files.save_hub_named({'state_dict': mmdet_state, 'meta': {}}, tmp_path,
                                     'ssd300_coco_20210803_015428')
    dst = tmp_path / 'checkpoints' / 'ssd_ext_ssd300.pth'
    out = run_tool(repo_root, MMDET_TOOL, src, dst, cwd=tmp_path)
    assert 'matches the hash prefix in its file name' in out
    assert f'wrote {len(mmdet_state)} tensors' in out
    assert sidecar_path(dst).read_text().split()[0] == sha256_of(dst)

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
