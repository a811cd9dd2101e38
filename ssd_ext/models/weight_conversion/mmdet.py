"""MMDetection SSD300/SSD512 checkpoints (``SSDVGG`` + ``SSDNeck`` + ``SSDHead``).

Two layouts are released. Since v2.14 (files of 2021-08 on, e.g.
``ssd300_coco_20210803_015428-d231a06e.pth``) each extra conv is a
``ConvModule`` (``neck.extra_layers.L.{0,1}.conv``), L2Norm sits in the neck and
each head conv is a one-element ``Sequential`` (``bbox_head.cls_convs.I.0``).
Before (v2.0 files, e.g. ``ssd300_coco_20200307-a92d2092.pth``) the extra convs
were a flat list ``backbone.extra.J`` (two per level), L2Norm was
``backbone.l2_norm.weight`` and the head convs plain (``bbox_head.cls_convs.I``);
MMDetection's own ``upgrade_ssd_version.py`` renames the one into the other.
The class channel order (background last) is ssd_ext's, so values are copied
unchanged.
"""
import re
from typing import Dict

from torch import Tensor

from ssd_ext.models.weight_conversion.common import L2NORM, extra_conv_key

CURRENT, LEGACY = 'MMDetection >= 2.14', 'MMDetection < 2.14 (backbone.extra, backbone.l2_norm)'


def mmdet_layout(state_dict: Dict[str, Tensor]) -> str:
    """``LEGACY`` when the file has the pre-v2.14 keys, else ``CURRENT``."""
    legacy = any(k.startswith(('backbone.extra.', 'backbone.l2_norm.')) for k in state_dict)
    return LEGACY if legacy else CURRENT


def _legacy_key(key: str) -> str:
    """A pre-v2.14 key in the v2.14 naming ssd_ext's renaming starts from."""
    match = re.fullmatch(r'backbone\.extra\.(\d+)\.(weight|bias)', key)
    if match:
        return f'{extra_conv_key(int(match.group(1)))}.{match.group(2)}'
    if key == 'backbone.l2_norm.weight':
        return L2NORM
    return key


def mmdet_ssd_to_ssd_ext(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """MMDetection SSD300/SSD512, either layout (:func:`mmdet_layout`) -> ssd_ext.

    Raises ``KeyError`` naming a key that is in neither layout.
    """
    legacy = mmdet_layout(state_dict) == LEGACY
    out = {}
    for key, value in state_dict.items():
        new = _legacy_key(key) if legacy else key
        match = re.fullmatch(r'neck\.extra_layers\.(\d+)\.([01])\.conv\.(weight|bias)', new)
        if match:  # ours interleave ReLUs: [conv, ReLU, conv, ReLU]
            level, conv, kind = match.groups()
            new = f'{extra_conv_key(2 * int(level) + int(conv))}.{kind}'
        new = re.sub(r'^bbox_head\.(cls|reg)_convs\.(\d+)\.0\.', r'bbox_head.\1_convs.\2.', new)
        if not new.startswith(('backbone.features.', 'neck.', 'bbox_head.')):
            raise KeyError(f'unexpected key {key!r} in an MMDetection SSD checkpoint '
                           f'(layout: {mmdet_layout(state_dict)})')
        out[new] = value
    return out
