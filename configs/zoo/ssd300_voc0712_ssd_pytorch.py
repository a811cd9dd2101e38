# amdegroot/ssd.pytorch's VOC07+12 SSD300 (77.43 mAP, VOC2007 test), converted with
#   python tools/model_converters/ssd_pytorch_to_ssd_ext.py \
#       ssd300_mAP_77.43_v2.pth checkpoints/ssd300_voc0712_ssd_pytorch.pth
# Its priors are VOC's Caffe sizes (30 ... 264, max 315), as configs/ssd300_voc0712.py;
# what ssd.pytorch does differently:
# - input: BGR (OpenCV's order) minus (104, 117, 123), std 1;
# - priors' width and height capped at the image, centre kept (its clip);
# - logits: background first (the converter moves it last);
# - test: score > 0.01, the 200 best priors of each class, per-class NMS at 0.45,
#   no cap per image (20 classes x 200). ssd.pytorch neither clips boxes to the
#   image nor drops empty ones; ssd_ext clips (not reproduced).
_base_ = '../ssd300_voc0712.py'

model = dict(
    init_cfg=dict(type='StrictPretrained',
                  checkpoint='checkpoints/ssd300_voc0712_ssd_pytorch.pth'),
    data_preprocessor=dict(mean=[104, 117, 123], std=[1, 1, 1], bgr_to_rgb=False),
    backbone=dict(init_cfg=None),
    bbox_head=dict(prior_generator=dict(clip_wh=True)),
    test_cfg=dict(score_thr=0.01, nms_pre=200, nms_pre_per='class', min_bbox_size=-1,
                  max_per_img=20 * 200))
