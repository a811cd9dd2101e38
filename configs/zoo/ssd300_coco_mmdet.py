# MMDetection's released COCO SSD300, either layout:
#   ssd300_coco_20210803_015428-d231a06e.pth (v2.14+, 25.5 AP, COCO val2017)
#   ssd300_coco_20200307-a92d2092.pth        (v2.0, 25.6 AP, COCO val2017)
# converted with tools/model_converters/mmdet_to_ssd_ext.py SRC
# checkpoints/ssd300_coco_mmdet.pth. At 300 MMDetection's integer prior sizes are
# the Caffe ones, and its input and test settings are those of configs/ssd300.py;
# what differs: nms_pre counts each level's candidates (MMDetection >= 2.14; v2.0
# kept each level's 1000 priors of highest class score, not reproduced).
_base_ = '../ssd300.py'

model = dict(
    init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/ssd300_coco_mmdet.pth'),
    backbone=dict(init_cfg=None),
    test_cfg=dict(nms_pre_per='level'))
