"""ssd.pytorch and lufficc/SSD checkpoints, whose code cannot run here, against
their documented layouts; every zoo SSD300 as the start of the BCCD fine-tune.

Neither source is installable: ssd.pytorch is no package (a repository of
scripts, last changed 2019, whose ``layers/functions/detection.py`` uses the
``torch.autograd.Function`` style removed in torch 1.5), and lufficc/SSD's
``ssd`` package is not on the package index this project installs from. So
their state dicts are written here from their model code's own recipes (the
lists ``vgg()``, ``add_extras()`` and ``multibox()`` walk in ssd.pytorch's
``ssd.py`` and lufficc's ``ssd/modeling/backbone/vgg.py`` and
``box_head/box_predictor.py``), with random values; the converted file must
load strictly into the zoo config's model, every tensor in its place and each
prior's logits with background moved last.
"""
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest
import torch
from conftest import REPO_ROOT
from mmengine.config import Config

from ssd_ext.models.pretrained.checksum import save_checked, sidecar_path
from ssd_ext.models.weight_conversion import lufficc_ssd_to_ssd_ext, ssd_pytorch_to_ssd_ext

Shapes = Dict[str, Tuple[int, ...]]
# ssd.pytorch base['300'] = lufficc vgg_base['300'] (512 too): 'M' max pool, 'C' ceil-mode pool
VGG_BASE = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'C', 512, 512, 512, 'M', 512, 512, 512]
EXTRAS = {300: [256, 'S', 512, 128, 'S', 256, 128, 256, 128, 256],
          512: [256, 'S', 512, 128, 'S', 256, 128, 'S', 256, 128, 'S', 256]}
BOXES = {300: [4, 6, 6, 6, 4, 4], 512: [4, 6, 6, 6, 6, 4, 4]}
ZOO = REPO_ROOT / 'configs' / 'zoo'


def conv(shapes: Shapes, key: str, out: int, inp: int, k: int) -> None:
    shapes[f'{key}.weight'], shapes[f'{key}.bias'] = (out, inp, k, k), (out,)


def vgg_shapes(prefix: str) -> Tuple[Shapes, List[int]]:
    """``vgg(base, 3)``: [conv, ReLU] per number, a pool per letter, then pool5,
    conv6 (3x3, dilation 6), ReLU, conv7 (1x1), ReLU; (shapes, the two source
    layers' channels: conv4_3's and conv7's)."""
    shapes, index, channels = {}, 0, 3
    for v in VGG_BASE:
        if v in ('M', 'C'):
            index += 1
            continue
        conv(shapes, f'{prefix}.{index}', v, channels, 3)
        index, channels = index + 2, v
    conv(shapes, f'{prefix}.{index + 1}', 1024, 512, 3)  # after pool5
    conv(shapes, f'{prefix}.{index + 3}', 1024, 1024, 1)
    return shapes, [512, 1024]


def extras_shapes(prefix: str, size: int, lufficc: bool) -> Tuple[Shapes, List[int]]:
    """``add_extras(cfg, 1024)``: kernels alternate 1, 3; 'S' makes the next a
    stride-2 conv; lufficc appends a 1x1 and a 4x4 conv at 512. (shapes, the
    channels of every second conv, the head's sources)."""
    cfg, shapes, convs, channels, flag = EXTRAS[size], {}, [], 1024, False
    for k, v in enumerate(cfg):
        if channels != 'S':
            out = cfg[k + 1] if v == 'S' else v
            convs.append((out, channels, (1, 3)[flag]))
            flag = not flag
        channels = v
    if lufficc and size == 512:
        convs += [(128, channels, 1), (256, 128, 4)]
    for j, (out, inp, k) in enumerate(convs):
        conv(shapes, f'{prefix}.{j}', out, inp, k)
    return shapes, [out for out, _, _ in convs[1::2]]


def source_state(size: int, num_logits: int, lufficc: bool, seed: int) -> Dict[str, torch.Tensor]:
    if lufficc:
        vgg, l2norm, extras = 'backbone.vgg', 'backbone.l2_norm.weight', 'backbone.extras'
        cls, reg = 'box_head.predictor.cls_headers', 'box_head.predictor.reg_headers'
    else:
        vgg, l2norm, extras, cls, reg = 'vgg', 'L2Norm.weight', 'extras', 'conf', 'loc'
    shapes, sources = vgg_shapes(vgg)
    extra, extra_sources = extras_shapes(extras, size, lufficc)
    shapes.update(extra)
    shapes[l2norm] = (512,)
    for i, (channels, boxes) in enumerate(zip(sources + extra_sources, BOXES[size], strict=True)):
        conv(shapes, f'{cls}.{i}', boxes * num_logits, channels, 3)
        conv(shapes, f'{reg}.{i}', boxes * 4, channels, 3)
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in shapes.items()}


def zoo_model(config: str, checkpoint=None):
    from mmdet.registry import MODELS
    cfg = Config.fromfile(str(ZOO / config))
    cfg.model.init_cfg = (None if checkpoint is None else
                          dict(type='StrictPretrained', checkpoint=str(checkpoint)))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        model.init_weights()
    return model


CASES = [  # config, converter, size, logits, lufficc, (source cls, source reg, source extras)
    ('ssd300_voc0712_ssd_pytorch.py', ssd_pytorch_to_ssd_ext, 300, 21, False,
     ('conf', 'loc', 'extras')),
    ('ssd300_voc0712_lufficc.py', lufficc_ssd_to_ssd_ext, 300, 21, True,
     ('box_head.predictor.cls_headers', 'box_head.predictor.reg_headers', 'backbone.extras')),
    ('ssd300_coco_lufficc.py', lufficc_ssd_to_ssd_ext, 300, 81, True,
     ('box_head.predictor.cls_headers', 'box_head.predictor.reg_headers', 'backbone.extras')),
    ('ssd512_coco_lufficc.py', lufficc_ssd_to_ssd_ext, 512, 81, True,
     ('box_head.predictor.cls_headers', 'box_head.predictor.reg_headers', 'backbone.extras')),
]


@pytest.mark.parametrize('config,converter,size,logits,lufficc,names', CASES,
                         ids=[c[0] for c in CASES])
def test_documented_layout_loads_into_its_zoo_config(tmp_path, config, converter, size, logits,
                                                     lufficc, names):
    source = source_state(size, logits, lufficc, seed=size + logits)
    converted = converter(source)
    assert len(converted) == len(source)
    save_checked(converted, {}, tmp_path / 'converted.pth')
    state = zoo_model(config, tmp_path / 'converted.pth').state_dict()  # strict, checksummed
    cls, reg, extras = names
    last = len(BOXES[size]) - 1
    assert torch.equal(state[f'bbox_head.reg_convs.{last}.weight'],
                       source[f'{reg}.{last}.weight'])
    assert torch.equal(state['neck.extra_layers.1.2.bias'], source[f'{extras}.3.bias'])
    assert torch.equal(state['backbone.features.31.weight'],
                       source[('backbone.vgg' if lufficc else 'vgg') + '.31.weight'])
    for level in (0, last):
        ours = state[f'bbox_head.cls_convs.{level}.bias'].view(BOXES[size][level], logits)
        theirs = source[f'{cls}.{level}.bias'].view(BOXES[size][level], logits)
        assert torch.equal(ours[:, :-1], theirs[:, 1:])  # the classes, in their order
        assert torch.equal(ours[:, -1], theirs[:, 0])  # background last


@pytest.mark.parametrize('converter', [ssd_pytorch_to_ssd_ext, lufficc_ssd_to_ssd_ext])
def test_a_file_of_another_layout_is_refused_by_name(converter):
    source = source_state(300, 21, converter is lufficc_ssd_to_ssd_ext, seed=0)
    key = next(k for k in source if k.endswith('L2Norm.weight') or k.endswith('l2_norm.weight'))
    source[key.replace('eight', 'eights')] = source.pop(key)
    with pytest.raises(KeyError, match=r'1 unexpected keys .*eights.*1 missing keys'):
        converter(source)


def test_ssd_pytorch_cli_prints_the_unchecked_digest(tmp_path, repo_root):
    src = tmp_path / 'ssd300_mAP_77.43_v2.pth'  # published without a hash in its name
    torch.save(source_state(300, 21, False, seed=1), src)
    proc = subprocess.run([sys.executable, str(repo_root / 'tools' / 'model_converters' /
                                               'ssd_pytorch_to_ssd_ext.py'),
                           str(src), str(tmp_path / 'out.pth')], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'not checked (no hash prefix in its name), sha256 ' in proc.stdout
    assert sidecar_path(tmp_path / 'out.pth').is_file()


SSD300_ZOO = sorted(p.name for p in ZOO.glob('ssd300_*.py'))


@pytest.mark.parametrize('config', SSD300_ZOO)
def test_bccd_finetune_starts_from_every_zoo_ssd300(tmp_path, config):
    """A converted file is the state dict of its zoo config's model; the
    fine-tune config loads all of it but the class logits (re-initialised)."""
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    converted = zoo_model(config).state_dict()
    save_checked(converted, {}, tmp_path / 'zoo.pth')
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'bccd' / 'ssd300_bccd_finetune.py'))
    cfg.model.init_cfg.checkpoint = str(tmp_path / 'zoo.pth')
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = model.state_dict()
    loaded = [k for k in state if not k.startswith('bbox_head.cls_convs.')]
    assert len(loaded) == len(converted) - 2 * 6
    assert all(torch.equal(state[k], converted[k]) for k in loaded)
