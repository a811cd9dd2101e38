"""Convert a lufficc/SSD VGG16 checkpoint for ssd_ext.

``python tools/model_converters/lufficc_to_ssd_ext.py SRC.pth DST.pth``

SRC is one of https://github.com/lufficc/SSD/releases/download/1.2/
``vgg_ssd300_voc0712.pth``, ``vgg_ssd300_coco_trainval35k.pth`` or
``vgg_ssd512_coco_trainval35k.pth``; their names carry no hash, so the sha256 is
printed for you to compare. Keys are renamed and background moved after the
classes; DST is weights-only with a ``DST.sha256`` beside it, for
``configs/zoo/ssd{300,512}_*_lufficc.py``.
"""
from ssd_ext.models.weight_conversion import lufficc_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.convert_file import converter_main

if __name__ == '__main__':
    converter_main(__doc__, 'lufficc/SSD', lufficc_ssd_to_ssd_ext)
