"""Convert amdegroot/ssd.pytorch's SSD300 checkpoint for ssd_ext.

``python tools/model_converters/ssd_pytorch_to_ssd_ext.py SRC.pth DST.pth``

SRC is ``ssd300_mAP_77.43_v2.pth``
(https://s3.amazonaws.com/amdegroot-models/ssd300_mAP_77.43_v2.pth); its name
carries no hash, so its sha256 is printed for you to compare. Keys are renamed
and background moved after the classes; DST is weights-only with a
``DST.sha256`` beside it, for ``configs/zoo/ssd300_voc0712_ssd_pytorch.py``.
"""
from ssd_ext.models.weight_conversion import ssd_pytorch_to_ssd_ext
from ssd_ext.models.weight_conversion.convert_file import converter_main

if __name__ == '__main__':
    converter_main(__doc__, 'ssd.pytorch', ssd_pytorch_to_ssd_ext)
