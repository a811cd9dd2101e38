# SSD512* (Liu et al. 2016, Sec. 3.6): SSD512 plus the "expansion" augmentation for
# small objects. The image is placed at random on a canvas up to 4x its size,
# filled with the mean, before the random crop; nothing else changes.
# Mean/to_rgb follow MMDetection's ssd300_coco.py: an RGB mean with to_rgb=True,
# which Expand reverses to match the BGR image from LoadImageFromFile.
_base_ = './ssd512.py'

train_pipeline = [
    *_base_.train_pipeline[:3],  # load image, load boxes, photometric distortion
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True,
         ratio_range=(1, 4), prob=0.5),
    *_base_.train_pipeline[3:],  # min-IoU random crop, resize, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
