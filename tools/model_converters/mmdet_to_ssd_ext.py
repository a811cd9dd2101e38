"""Convert an MMDetection SSD300/SSD512 checkpoint for ssd_ext.

``python tools/model_converters/mmdet_to_ssd_ext.py SRC.pth DST.pth``

Both released layouts convert: v2.14 and later (``neck.extra_layers``) and the
older one (``backbone.extra``, ``backbone.l2_norm``, e.g.
``ssd300_coco_20200307-a92d2092.pth``). SRC's sha256 is checked against the hash
prefix in its name (MMDetection's released files carry one, e.g.
``...-d231a06e.pth``). Only the state dict is kept (no optimizer, no pickled
metadata), so DST loads weights-only; a ``DST.sha256`` beside it lets
``StrictPretrained`` check it. Configs: ``configs/zoo/ssd{300,512}_coco_mmdet.py``
(SSD512 with MMDetection's integer prior sizes); the fine-tune config
``configs/bccd/ssd300_bccd_finetune.py`` loads SSD300 so.
"""
from ssd_ext.models.weight_conversion import mmdet_layout, mmdet_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.convert_file import converter_main

if __name__ == '__main__':
    converter_main(__doc__, 'MMDetection SSD', mmdet_ssd_to_ssd_ext, mmdet_layout)
