"""Convert torchvision's ``ssd300_vgg16`` COCO checkpoint for ssd_ext.

``python tools/model_converters/torchvision_to_ssd_ext.py SRC.pth DST.pth``

SRC is ``ssd300_vgg16_coco-b556d3b4.pth``
(https://download.pytorch.org/models/ssd300_vgg16_coco-b556d3b4.pth); its
sha256 is checked against the prefix in its name. Keys are renamed and each
prior's 91 class logits reordered (the 80 classes, background, the 10 unused
COCO ids); DST is weights-only with a ``DST.sha256`` beside it, for
``configs/zoo/ssd300_coco_torchvision.py``.
"""
from ssd_ext.models.weight_conversion import torchvision_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.convert_file import converter_main

if __name__ == '__main__':
    converter_main(__doc__, 'torchvision ssd300_vgg16', torchvision_ssd_to_ssd_ext)
