"""Foreign weights in ssd_ext's layout: one module per source, each a few pure
functions from the source's state dict to ssd_ext's.

The rule every SSD checkpoint converter follows: each of the source's tensors lands on
exactly one of ssd_ext's keys, values unchanged except the class logits, whose
channels are reordered per prior into ssd_ext's order (the dataset's classes,
then background, then any logits that are no class); a key the source layout
does not have is an error naming it.

==================  ==============================  ==============================
module              source                          layout
==================  ==============================  ==============================
``mmdet``           MMDetection SSD300/SSD512       ``neck.extra_layers`` (>= 2.14)
                                                    or ``backbone.extra`` (older)
``torchvision_ssd`` torchvision ``ssd300_vgg16``    ``backbone.extra``, ``head.*``
``ssd_pytorch``     amdegroot/ssd.pytorch           ``vgg.N``, ``extras.N``,
                                                    ``loc``/``conf``
``lufficc``         lufficc/SSD (VGG16)             ``backbone.vgg.N``,
                                                    ``box_head.predictor``
==================  ==============================  ==============================

``imagenet_vgg16`` converts the ImageNet VGG16 files SSD starts from
(torchvision, MMCV, Caffe; backbone only): fc6/fc7 subsampled from the
classifier, the file's input normalisation folded into conv1_1.
"""
from ssd_ext.models.weight_conversion.common import unwrap_state_dict
from ssd_ext.models.weight_conversion.lufficc import lufficc_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.mmdet import mmdet_layout, mmdet_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.ssd_pytorch import ssd_pytorch_to_ssd_ext
from ssd_ext.models.weight_conversion.torchvision_ssd import torchvision_ssd_to_ssd_ext

__all__ = ['unwrap_state_dict', 'mmdet_layout', 'mmdet_ssd_to_ssd_ext',
           'torchvision_ssd_to_ssd_ext', 'ssd_pytorch_to_ssd_ext', 'lufficc_ssd_to_ssd_ext']
