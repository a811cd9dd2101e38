# lufficc/SSD's VGG16 SSD300 on COCO trainval35k (25.2 AP, COCO 2014 minival),
# converted with tools/model_converters/lufficc_to_ssd_ext.py
# vgg_ssd300_coco_trainval35k.pth checkpoints/ssd300_coco_lufficc.pth.
# Prior sizes are configs/ssd300.py's; the input, prior clipping, logit order and
# test settings differ as in ssd300_voc0712_lufficc.py.
_base_ = '../ssd300.py'

model = dict(
    init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/ssd300_coco_lufficc.pth'),
    data_preprocessor=dict(mean=[123, 117, 104], std=[1, 1, 1], bgr_to_rgb=True),
    backbone=dict(init_cfg=None),
    bbox_head=dict(prior_generator=dict(clip_wh=True)),
    test_cfg=dict(score_thr=0.01, nms_pre=-1, min_bbox_size=-1, max_per_img=100))
