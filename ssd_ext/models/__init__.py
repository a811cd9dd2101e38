"""SSD's model parts, one concept per module:

- ``backbones/vgg16.py``: VGG16 with reduced fc6/fc7 (:class:`VGG16ReducedFC`)
- ``necks/ssd_neck.py``: L2Norm and extra layers (:class:`SSDExtraLayers`)
- ``layers.py``: the conv blocks and Caffe-style pooling both of them use
- ``anchors/prior_box.py``: prior boxes (:class:`PriorBoxGenerator`)
- ``box_head/``: encoding (``box_coder.py``), matching (``matcher.py``), the
  MultiBox loss (``multibox_loss.py``), the decoding of scored candidates
  (``candidates.py``, shared with the ONNX export), the loop-free batched NMS
  of the GPU path (``loop_free_nms.py``) and the head (:class:`MultiBoxHead`,
  ``multibox_head.py``)
- ``pretrained/``: the ``StrictPretrained`` weight initialiser (strict,
  weights-only, checksummed, offline)
- ``weight_conversion/``: foreign weights to ssd_ext's layout, one module per
  source: SSD checkpoints (MMDetection, torchvision, ssd.pytorch, lufficc/SSD)
  and ImageNet VGG16 files (``tools/model_converters/``)
"""
from ssd_ext.models.anchors.prior_box import PriorBoxGenerator, caffe_prior_sizes
from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC
from ssd_ext.models.box_head.multibox_head import MultiBoxHead
from ssd_ext.models.necks.ssd_neck import L2Norm, SSDExtraLayers
from ssd_ext.models.pretrained import StrictPretrained

__all__ = ['PriorBoxGenerator', 'caffe_prior_sizes', 'VGG16ReducedFC', 'MultiBoxHead',
           'L2Norm', 'SSDExtraLayers', 'StrictPretrained']
