# SSD300 (Liu et al. 2016, Table/Fig. 2): VGG16 reduced-fc, conv4_3 + fc7 + 4 extra
# levels (38, 19, 10, 5, 3, 1), 4 or 6 priors per cell, COCO scales 0.15-0.9 with
# conv4_3 at 0.07. VGG16 starts from ImageNet, as every published SSD result
# does: MMDetection's 'open-mmlab://vgg16_caffe' (fc6/fc7 reduced), loaded by
# ssd_ext's strict, checksummed, offline StrictPretrained
# (ssd_ext/models/pretrained/; where to put the file: README, Pretrained weights).

model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53], std=[1, 1, 1],
        bgr_to_rgb=True, pad_size_divisor=1),
    backbone=dict(
        type='VGG16ReducedFC',
        init_cfg=dict(type='StrictPretrained', checkpoint='open-mmlab://vgg16_caffe')),
    neck=dict(
        type='SSDExtraLayers',
        in_channels=(512, 1024),
        out_channels=(512, 1024, 512, 256, 256, 256),
        level_strides=(2, 2, 1, 1),
        level_paddings=(1, 1, 0, 0),
        l2_norm_scale=20),
    bbox_head=dict(
        type='MultiBoxHead',
        num_classes=80,
        in_channels=(512, 1024, 512, 256, 256, 256),
        prior_generator=dict(
            type='PriorBoxGenerator',
            input_size=300,
            strides=[8, 16, 32, 64, 100, 300],
            ratios=[[2], [2, 3], [2, 3], [2, 3], [2], [2]],
            scale_range=(0.15, 0.9),
            first_level_scale=0.07),
        variances=(0.1, 0.1, 0.2, 0.2)),
    train_cfg=dict(pos_iou_thr=0.5, neg_pos_ratio=3, smooth_l1_beta=1.0),
    test_cfg=dict(
        score_thr=0.02, nms=dict(type='nms', iou_threshold=0.45),
        nms_pre=1000, min_bbox_size=0, max_per_img=200))
