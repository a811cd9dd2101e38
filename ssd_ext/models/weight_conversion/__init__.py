"""Foreign weights in ssd_ext's layout, pure functions per source (the layouts:
docs/model_zoo.md). Every SSD checkpoint converter lands each of the source's
tensors on exactly one of ssd_ext's keys, values unchanged except the class
logits, which are reordered per prior into ssd_ext's order; a key the source
layout lacks is an error naming it.
"""
from ssd_ext.models.weight_conversion.common import unwrap_state_dict
from ssd_ext.models.weight_conversion.lufficc import lufficc_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.mmdet import mmdet_layout, mmdet_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.ssd_pytorch import ssd_pytorch_to_ssd_ext
from ssd_ext.models.weight_conversion.torchvision_ssd import torchvision_ssd_to_ssd_ext

__all__ = ['unwrap_state_dict', 'mmdet_layout', 'mmdet_ssd_to_ssd_ext',
           'torchvision_ssd_to_ssd_ext', 'ssd_pytorch_to_ssd_ext', 'lufficc_ssd_to_ssd_ext']
