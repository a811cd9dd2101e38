"""lufficc/SSD's VGG16 models (``vgg_ssd{300,512}_{voc0712,coco_trainval35k}.pth``).

Layout (its ``ssd/modeling/backbone/vgg.py`` and ``box_head/box_predictor.py``):
``backbone.vgg.N`` as ssd.pytorch's flat VGG list, ``backbone.l2_norm.weight``,
``backbone.extras.J`` (two per level; SSD512 adds a 1x1 and a 4x4 conv),
``box_head.predictor.{cls,reg}_headers.I``. Logit 0 is background, then the
dataset's classes (VOC's in ssd_ext's order; COCO's 80 by ascending category
id, as ssd_ext's COCO dataset); ssd_ext's order puts background last. The
checkpoint wraps the state dict in ``model``.
"""
from typing import Dict

from torch import Tensor

from ssd_ext.models.weight_conversion.common import (L2NORM, background_last,
                                                     caffe_layout_modules, count_indexed,
                                                     rename_modules, reorder_class_convs)

CLS, REG = 'box_head.predictor.cls_headers', 'box_head.predictor.reg_headers'


def lufficc_ssd_to_ssd_ext(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """lufficc/SSD VGG16 SSD300/SSD512 -> ssd_ext; raises ``KeyError`` naming
    keys outside its layout."""
    modules = caffe_layout_modules('backbone.vgg', 'backbone.extras',
                                   count_indexed(state_dict, 'backbone.extras'),
                                   CLS, REG, count_indexed(state_dict, CLS))
    renamed = rename_modules(state_dict, modules, 'lufficc/SSD',
                             {'backbone.l2_norm.weight': L2NORM})
    return reorder_class_convs(renamed, background_last)
