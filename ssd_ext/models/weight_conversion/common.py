"""What the converters share: ssd_ext's key names, the strict renaming, the
per-prior reordering of class logits, and the Caffe-style flat layout that
ssd.pytorch and lufficc/SSD both use."""
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from ssd_ext.models.weight_conversion.imagenet_vgg16 import (FC6_INDEX, FC7_INDEX,
                                                             VGG16_CONV_INDICES)

# Indices of the 13 VGG convs and fc6/fc7 in a flat VGG list (torchvision's
# ``features``, ssd.pytorch's ``vgg``); ssd_ext's backbone uses the same ones.
VGG_LAYERS = (*VGG16_CONV_INDICES, FC6_INDEX, FC7_INDEX)
PARAMS = ('weight', 'bias')
L2NORM = 'neck.l2_norm.weight'


def unwrap_state_dict(checkpoint, source: str = 'checkpoint') -> Dict[str, Tensor]:
    """The state dict of a loaded checkpoint that may wrap it in ``state_dict``
    or ``model`` (the dict itself, not a copy); ``source`` (e.g. the file)
    names it in the error."""
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    if isinstance(checkpoint, dict) and all(isinstance(v, torch.Tensor)
                                            for v in checkpoint.values()):
        return checkpoint
    raise ValueError(f'{source} holds no state dict (no tensors, no '
                     "'state_dict' or 'model' entry)")


def backbone_key(layer: int) -> str:
    """``backbone.features.N``: VGG layer ``N`` of the flat list (``VGG_LAYERS``)."""
    return f'backbone.features.{layer}'


def extra_conv_key(conv: int) -> str:
    """The ``conv``-th extra conv (0-based, two per level: 1x1 then 3x3) in
    ssd_ext's neck, whose levels interleave ReLUs: ``[conv, ReLU, conv, ReLU]``."""
    return f'neck.extra_layers.{conv // 2}.{2 * (conv % 2)}'


def rename_modules(state: Dict[str, Tensor], modules: Dict[str, str], source: str,
                   tensors: Optional[Dict[str, str]] = None) -> Dict[str, Tensor]:
    """``state`` renamed: ``modules`` maps source module to ssd_ext module
    (each with ``.weight`` and ``.bias``), ``tensors`` single tensor keys
    (e.g. L2Norm's scale).

    Raises ``KeyError`` naming the source's keys that have no place and the
    expected keys the source lacks: a file of another layout, or of another
    level count, is not half converted.
    """
    wanted = dict(tensors or {})
    for src, dst in modules.items():
        wanted.update({f'{src}.{p}': f'{dst}.{p}' for p in PARAMS})
    unexpected = sorted(k for k in state if k not in wanted)
    missing = sorted(k for k in wanted if k not in state)
    if unexpected or missing:
        raise KeyError(f'not a {source} checkpoint of the expected layout: '
                       f'{len(unexpected)} unexpected keys {unexpected[:6]}, '
                       f'{len(missing)} missing keys {missing[:6]}')
    return {wanted[k]: v for k, v in state.items()}


def reorder_logits(value: Tensor, num_priors: int, order: Sequence[int]) -> Tensor:
    """A class conv's weight [A * L, ...] or bias [A * L] with each prior's L
    logit channels reordered: output channel ``a * len(order) + j`` is input
    channel ``a * L + order[j]``."""
    logits = value.shape[0] // num_priors
    if logits * num_priors != value.shape[0] or max(order) >= logits:
        raise ValueError(f'class conv of {value.shape[0]} channels does not hold '
                         f'{num_priors} priors of at least {max(order) + 1} logits')
    index = torch.as_tensor(list(order), dtype=torch.long)
    per_prior = value.reshape(num_priors, logits, *value.shape[1:])
    return per_prior.index_select(1, index).reshape(-1, *value.shape[1:]).clone()


def background_last(num_logits: int) -> List[int]:
    """The order taking background-first logits (background 0, then classes
    1 ... L-1, as torchvision, ssd.pytorch and lufficc/SSD have them) to
    ssd_ext's (classes, then background)."""
    return [*range(1, num_logits), 0]


def reorder_class_convs(state: Dict[str, Tensor], order_of) -> Dict[str, Tensor]:
    """``state`` (in ssd_ext's keys) with every ``bbox_head.cls_convs.i``
    reordered by ``order_of(num_logits)``; the priors per cell come from
    ``reg_convs.i`` (4 channels per prior)."""
    out = dict(state)
    for key, value in state.items():
        if key.startswith('bbox_head.cls_convs.'):
            level = key.split('.')[2]
            priors = state[f'bbox_head.reg_convs.{level}.weight'].shape[0] // 4
            out[key] = reorder_logits(value, priors, order_of(value.shape[0] // priors))
    return out


def caffe_layout_modules(vgg: str, extras: str, num_extras: int, cls: str, reg: str,
                         num_levels: int) -> Dict[str, str]:
    """{source module: ssd_ext module} of the flat Caffe-style layout of
    ssd.pytorch and lufficc/SSD: VGG layers ``{vgg}.N`` (``VGG_LAYERS``),
    extra convs ``{extras}.J`` and per-level head convs ``{cls}.I`` and
    ``{reg}.I``; L2Norm's scale is a single tensor, renamed beside it."""
    modules = {f'{vgg}.{i}': backbone_key(i) for i in VGG_LAYERS}
    modules.update({f'{extras}.{j}': extra_conv_key(j) for j in range(num_extras)})
    modules.update({f'{cls}.{i}': f'bbox_head.cls_convs.{i}' for i in range(num_levels)})
    modules.update({f'{reg}.{i}': f'bbox_head.reg_convs.{i}' for i in range(num_levels)})
    return modules


def count_indexed(state: Dict[str, Tensor], prefix: str) -> int:
    """How many modules ``{prefix}.0``, ``{prefix}.1``, ... have a weight."""
    count = 0
    while f'{prefix}.{count}.weight' in state:
        count += 1
    return count
