# torchvision's ssd300_vgg16 COCO weights (25.1 AP, COCO val2017), converted with
#   python tools/model_converters/torchvision_to_ssd_ext.py \
#       ssd300_vgg16_coco-b556d3b4.pth checkpoints/ssd300_coco_torchvision.pth
# The network and its prior sizes (21 ... 261, max 315) are the paper's SSD300;
# what torchvision does differently:
# - input: RGB minus 255 x (0.48235, 0.45882, 0.40784), std 1 (its image_mean/std
#   on 0-1 input); it resizes with torch's bilinear interpolation, ssd_ext with
#   OpenCV's (pixels differ by under one grey level);
# - priors' width and height capped at the image, centre kept (its clip=True);
# - 91 logits: background, 80 classes and 10 unused COCO ids, which still share
#   the softmax (unused_logits=10; the converter puts them after background);
# - test: score > 0.01, the 400 best priors of each class (not of the image),
#   per-class NMS at 0.45, 200 per image; boxes clipped to nothing are kept.
_base_ = '../ssd300.py'

model = dict(
    init_cfg=dict(type='StrictPretrained',
                  checkpoint='checkpoints/ssd300_coco_torchvision.pth'),
    data_preprocessor=dict(mean=[122.99925, 116.9991, 103.9992], std=[1, 1, 1],
                           bgr_to_rgb=True),
    backbone=dict(init_cfg=None),
    bbox_head=dict(unused_logits=10, prior_generator=dict(clip_wh=True)),
    test_cfg=dict(score_thr=0.01, nms_pre=400, nms_pre_per='class', min_bbox_size=-1,
                  max_per_img=200))
