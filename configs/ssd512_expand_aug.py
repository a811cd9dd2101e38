# SSD512* (Liu et al. 2016, Sec. 3.6): SSD512 plus the "expansion" augmentation for
# small objects. The image is placed at random on a canvas up to 4x its size,
# filled with the mean, before the random crop; nothing else changes.
# Mean/to_rgb follow MMDetection's ssd300_coco.py: the data preprocessor's RGB mean
# with to_rgb=True, reversed for the BGR image from LoadImageFromFile.
_base_ = './ssd512.py'

train_pipeline = [
    *_base_.train_pipeline[:2],  # load image, load boxes
    dict(_base_.train_pipeline[2],  # geometry: + expansion before the crop
         expand=dict(prob=0.5, ratio_range=(1, 4),
                     mean=[123.675, 116.28, 103.53], to_rgb=True)),
    *_base_.train_pipeline[3:],  # photometric distortion, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
