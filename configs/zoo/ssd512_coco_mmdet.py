# MMDetection's released COCO SSD512, either layout:
#   ssd512_coco_20210803_022849-0a47a1ca.pth (v2.14+, 29.5 AP, COCO val2017)
#   ssd512_coco_20200308-038c5591.pth        (v2.0, 29.4 AP, COCO val2017)
# converted with tools/model_converters/mmdet_to_ssd_ext.py SRC
# checkpoints/ssd512_coco_mmdet.pth. What differs from configs/ssd512.py:
# - the prior sizes the weights were trained with: MMDetection truncates the
#   Caffe sizes to integers (20.48 -> 20, 51.2 -> 51, ...; up to 2.4% smaller);
# - nms_pre counts each level's candidates (MMDetection >= 2.14).
_base_ = '../ssd512.py'

model = dict(
    init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/ssd512_coco_mmdet.pth'),
    backbone=dict(init_cfg=None),
    bbox_head=dict(prior_generator=dict(
        scale_range=None, first_level_scale=None,
        min_sizes=[20, 51, 133, 215, 296, 378, 460],
        max_sizes=[51, 133, 215, 296, 378, 460, 542])),
    test_cfg=dict(nms_pre_per='level'))
