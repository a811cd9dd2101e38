"""MMDetection's SSD checkpoints in ssd_ext's layout, and the state dict inside
a loaded checkpoint. (ImageNet VGG16 files: ``pretrained/vgg16_conversion.py``.)
"""
import re
from typing import Dict

import torch
from torch import Tensor


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
