# lufficc/SSD's VGG16 SSD300 on VOC07+12 (77.7 mAP, VOC2007 test), converted with
#   python tools/model_converters/lufficc_to_ssd_ext.py \
#       vgg_ssd300_voc0712.pth checkpoints/ssd300_voc0712_lufficc.pth
# Its priors are VOC's Caffe sizes, as configs/ssd300_voc0712.py; what it does
# differently:
# - input: RGB minus (123, 117, 104), std 1;
# - priors' width and height capped at the image, centre kept (PRIORS.CLIP);
# - logits: background first (the converter moves it last);
# - test: score > 0.01, no top-k before NMS, per-class NMS at 0.45, 100 per image.
#   It neither clips boxes to the image nor drops empty ones; ssd_ext clips (not
#   reproduced).
_base_ = '../ssd300_voc0712.py'

model = dict(
    init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/ssd300_voc0712_lufficc.pth'),
    data_preprocessor=dict(mean=[123, 117, 104], std=[1, 1, 1], bgr_to_rgb=True),
    backbone=dict(init_cfg=None),
    bbox_head=dict(prior_generator=dict(clip_wh=True)),
    test_cfg=dict(score_thr=0.01, nms_pre=-1, min_bbox_size=-1, max_per_img=100))
