"""amdegroot/ssd.pytorch's SSD300 (``ssd300_mAP_77.43_v2.pth``, VOC07+12).

Layout (its ``ssd.py``): ``vgg.N`` the flat VGG list with fc6/fc7 at 31/33
(ssd_ext's indices), ``L2Norm.weight``, ``extras.J`` the extra convs (two per
level, ReLUs applied in ``forward``), ``loc.I``/``conf.I`` the head convs. Its
21 logits are background (0) then VOC's 20 classes in the order ssd_ext's VOC
dataset has them (aeroplane ... tvmonitor); ssd_ext's order puts background
last.
"""
from typing import Dict

from torch import Tensor

from ssd_ext.models.weight_conversion.common import (L2NORM, background_last,
                                                     caffe_layout_modules, count_indexed,
                                                     rename_modules, reorder_class_convs)


def ssd_pytorch_to_ssd_ext(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """ssd.pytorch SSD300/SSD512 -> ssd_ext; raises ``KeyError`` naming keys
    outside its layout."""
    modules = caffe_layout_modules('vgg', 'extras', count_indexed(state_dict, 'extras'),
                                   'conf', 'loc', count_indexed(state_dict, 'conf'))
    renamed = rename_modules(state_dict, modules, 'ssd.pytorch', {'L2Norm.weight': L2NORM})
    return reorder_class_convs(renamed, background_last)
