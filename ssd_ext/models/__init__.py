"""SSD's model parts, one concept per module:

- ``backbones/vgg16.py``: VGG16 with reduced fc6/fc7 (:class:`VGG16ReducedFC`)
- ``necks/ssd_neck.py``: L2Norm and extra layers (:class:`SSDExtraLayers`)
- ``anchors/prior_box.py``: prior boxes (:class:`PriorBoxGenerator`)
- ``box_head/``: encoding, matching, the MultiBox loss, the decoding of
  scored candidates (``candidates.py``, shared with the ONNX export) and the
  head (:class:`MultiBoxHead`, with NMS)
"""
from ssd_ext.models.anchors.prior_box import PriorBoxGenerator, caffe_prior_sizes
from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC
from ssd_ext.models.box_head.multibox_head import MultiBoxHead
from ssd_ext.models.necks.ssd_neck import L2Norm, SSDExtraLayers

__all__ = ['PriorBoxGenerator', 'caffe_prior_sizes', 'VGG16ReducedFC', 'MultiBoxHead',
           'L2Norm', 'SSDExtraLayers']
