"""SSD's model parts, one concept per module (docs/architecture.md), and the
pretrained and foreign weights they load.
"""
from ssd_ext.models.anchors.prior_box import PriorBoxGenerator, caffe_prior_sizes
from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC
from ssd_ext.models.box_head.multibox_head import MultiBoxHead
from ssd_ext.models.necks.ssd_neck import L2Norm, SSDExtraLayers
from ssd_ext.models.pretrained import StrictPretrained

__all__ = ['PriorBoxGenerator', 'caffe_prior_sizes', 'VGG16ReducedFC', 'MultiBoxHead',
           'L2Norm', 'SSDExtraLayers', 'StrictPretrained']
