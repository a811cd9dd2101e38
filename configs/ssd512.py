# SSD512: 7 prior levels (64, 32, 16, 8, 4, 2, 1), COCO scales 0.1-0.9 with conv4_3
# at 0.04; the last extra level uses a 4x4 kernel.
_base_ = './ssd300.py'

input_size = 512
model = dict(
    neck=dict(
        out_channels=(512, 1024, 512, 256, 256, 256, 256),
        level_strides=(2, 2, 2, 2, 1),
        level_paddings=(1, 1, 1, 1, 1),
        last_kernel_size=4),
    bbox_head=dict(
        in_channels=(512, 1024, 512, 256, 256, 256, 256),
        prior_generator=dict(
            input_size=input_size,
            strides=[8, 16, 32, 64, 128, 256, 512],
            ratios=[[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]],
            scale_range=(0.1, 0.9),
            first_level_scale=0.04)))

train_pipeline = [
    *_base_.train_pipeline[:2],
    dict(_base_.train_pipeline[2], size=(input_size, input_size)),
    *_base_.train_pipeline[3:],
]
test_pipeline = [
    _base_.test_pipeline[0],
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    *_base_.test_pipeline[2:],
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
