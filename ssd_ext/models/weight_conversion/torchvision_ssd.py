"""torchvision's ``ssd300_vgg16`` (``ssd300_vgg16_coco-b556d3b4.pth``).

Layout (``torchvision/models/detection/ssd.py``): ``backbone.features`` is VGG16
up to conv4_3 (same indices as ssd_ext's), ``backbone.extra.0`` continues it
(pool4, conv5_1..5_3 at 1, 3, 5, then ``7`` = pool5, fc6 at ``7.1``, fc7 at
``7.3``), ``backbone.extra.1..4`` are the extra levels (``[conv, ReLU, conv,
ReLU]``, as ssd_ext's), ``backbone.scale_weight`` is L2Norm's scale, and
``head.{classification,regression}_head.module_list.I`` the head convs.

Its class logits are COCO's 91 category ids: 0 background, 1..90 with 10 ids
no class has (``COCO_UNUSED_IDS``). ssd_ext's order is the dataset's 80
classes (ascending category id), background, then the 10 unused ids, which
still take part in the softmax (``MultiBoxHead(unused_logits=10)``), so scores
are torchvision's exactly.
"""
from typing import Dict, List

from torch import Tensor

from ssd_ext.models.weight_conversion.common import (L2NORM, backbone_key, count_indexed,
                                                     extra_conv_key, rename_modules,
                                                     reorder_class_convs)

COCO_UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
NUM_COCO_IDS = 91  # background and ids 1..90
COCO_CLASS_IDS = tuple(i for i in range(1, NUM_COCO_IDS) if i not in COCO_UNUSED_IDS)

# conv5_1..5_3, fc6, fc7 inside backbone.extra.0 -> ssd_ext's flat VGG index
_EXTRA0 = {'1': 24, '3': 26, '5': 28, '7.1': 31, '7.3': 33}
_CONV4 = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)
CLS = 'head.classification_head.module_list'
REG = 'head.regression_head.module_list'


def coco_logit_order(num_logits: int = NUM_COCO_IDS) -> List[int]:
    """ssd_ext's logits in torchvision's numbering: the 80 classes, background
    (0), the unused ids."""
    if num_logits != NUM_COCO_IDS:
        raise ValueError(f"torchvision's COCO head has {NUM_COCO_IDS} logits per prior, "
                         f'this one {num_logits}')
    return [*COCO_CLASS_IDS, 0, *COCO_UNUSED_IDS]


def torchvision_modules(num_levels: int) -> Dict[str, str]:
    """{torchvision module: ssd_ext module} for SSD with ``num_levels`` levels."""
    modules = {f'backbone.features.{i}': backbone_key(i) for i in _CONV4}
    modules.update({f'backbone.extra.0.{k}': backbone_key(i) for k, i in _EXTRA0.items()})
    for level in range(1, num_levels - 1):  # extra.1 .. : the levels after fc7
        for conv, index in (('0', 0), ('2', 1)):
            modules[f'backbone.extra.{level}.{conv}'] = extra_conv_key(2 * (level - 1) + index)
    for i in range(num_levels):
        modules[f'{CLS}.{i}'] = f'bbox_head.cls_convs.{i}'
        modules[f'{REG}.{i}'] = f'bbox_head.reg_convs.{i}'
    return modules


def torchvision_ssd_to_ssd_ext(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """torchvision SSD300 VGG16 (COCO, 91 logits) -> ssd_ext, class logits
    reordered by :func:`coco_logit_order`.

    Raises ``KeyError`` naming the keys that are not torchvision's layout.
    """
    num_levels = count_indexed(state_dict, CLS)
    renamed = rename_modules(state_dict, torchvision_modules(num_levels),
                             "torchvision ssd300_vgg16", {'backbone.scale_weight': L2NORM})
    return reorder_class_convs(renamed, coco_logit_order)
