"""State-dict conversions from other SSD and VGG16 layouts to ssd_ext's.

Without norm layers, ssd_ext's ``VGG16ReducedFC.features`` uses the same layer
indices as MMDetection's ``SSDVGG`` and ssd.pytorch's ``vgg16_reducedfc``
(conv4_3 ReLU at 22, pool5 at 30, fc6 at 31, fc7 at 33), so most keys map one
to one.
"""
import re
from typing import Dict

import torch
from torch import Tensor

# torchvision vgg16().features indices of the 13 convs; ours are the same.
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
FC6_INDEX, FC7_INDEX = 31, 33


def mmdet_ssd_to_ssd_ext(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """MMDetection SSD300/SSD512 (``SSDVGG`` + ``SSDNeck`` + ``SSDHead``) -> ssd_ext.

    MMDetection wraps each extra conv in a ``ConvModule`` (``.conv``) and each
    head conv in a one-element ``Sequential``; the class channel order
    (background last) is the same, so values are copied unchanged.
    """
    out = {}
    for key, value in state_dict.items():
        new = key
        match = re.fullmatch(r'neck\.extra_layers\.(\d+)\.([01])\.conv\.(weight|bias)', key)
        if match:  # ours interleave ReLUs: [conv, ReLU, conv, ReLU]
            level, conv, kind = match.groups()
            new = f'neck.extra_layers.{level}.{2 * int(conv)}.{kind}'
        new = re.sub(r'^bbox_head\.(cls|reg)_convs\.(\d+)\.0\.', r'bbox_head.\1_convs.\2.', new)
        if not new.startswith(('backbone.features.', 'neck.', 'bbox_head.')):
            raise KeyError(f'unexpected key {key!r} in an MMDetection SSD checkpoint')
        out[new] = value
    return out


def vgg16_to_backbone(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """ImageNet VGG16 weights -> ``VGG16ReducedFC`` state dict (``features.*`` keys).

    Accepts torchvision's ``vgg16`` layout (``features.N`` convs and the
    ``classifier`` fc layers) and the Caffe ``vgg16_reducedfc`` layout
    (``N.weight`` keys, fc6/fc7 already reduced). torchvision's fc6/fc7 are
    reduced as in the paper (Sec. 3, "subsample parameters from fc6 and fc7"):
    fc6's 4096 x (512*7*7) weights become a 3x3 conv by keeping every 4th output
    channel and every 3rd spatial tap, which the dilated conv then spreads back
    over the receptive field; fc7 keeps every 4th input and output channel.
    """
    if any(k.startswith('classifier.') for k in state_dict):
        return _torchvision_vgg16(state_dict)
    if f'{FC6_INDEX}.weight' in state_dict:
        needed = [f'{i}.{kind}' for i in (*VGG16_CONV_INDICES, FC6_INDEX, FC7_INDEX)
                  for kind in ('weight', 'bias')]
        missing = [k for k in needed if k not in state_dict]
        if missing:
            raise KeyError(f'vgg16_reducedfc state dict lacks {missing}')
        return {f'features.{k}': v for k, v in state_dict.items()}
    raise KeyError('not a VGG16 state dict: expected torchvision keys '
                   "('features.0.weight', 'classifier.0.weight', ...) or Caffe "
                   f"vgg16_reducedfc keys ('0.weight', ..., '{FC6_INDEX}.weight'); "
                   f'got {sorted(state_dict)[:5]}...')


def _torchvision_vgg16(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """torchvision ``vgg16`` keys -> ``features.*``, fc6/fc7 reduced (see
    :func:`vgg16_to_backbone`)."""
    out = {}
    for i in VGG16_CONV_INDICES:
        for kind in ('weight', 'bias'):
            key = f'features.{i}.{kind}'
            if key not in sd:
                raise KeyError(f'VGG16 state dict lacks {key!r}')
            out[key] = sd[key]
    fc6 = sd['classifier.0.weight']
    if fc6.shape != (4096, 512 * 7 * 7):
        raise ValueError(f'classifier.0.weight has shape {tuple(fc6.shape)}, '
                         f'expected (4096, 25088) for VGG16')
    if sd['classifier.3.weight'].shape != (4096, 4096):
        raise ValueError(f"classifier.3.weight has shape "
                         f"{tuple(sd['classifier.3.weight'].shape)}, expected (4096, 4096)")
    fc6 = fc6.view(4096, 512, 7, 7)[::4, :, ::3, ::3]
    out[f'features.{FC6_INDEX}.weight'] = fc6.contiguous()
    out[f'features.{FC6_INDEX}.bias'] = sd['classifier.0.bias'][::4].clone()
    fc7 = sd['classifier.3.weight'][::4, ::4]
    out[f'features.{FC7_INDEX}.weight'] = fc7.reshape(1024, 1024, 1, 1).contiguous()
    out[f'features.{FC7_INDEX}.bias'] = sd['classifier.3.bias'][::4].clone()
    return out


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
