# COCO 2017 with SSD's augmentation. Test: resize only.
# CocoDataset that checks every box and image at load (see README, bad data):
# bad boxes are skipped and counted, unreadable images replaced and logged.
dataset_type = 'CheckedCocoDataset'
data_root = 'data/coco/'
input_size = 300
backend_args = None

# SSD's augmentation with MMDetection's draws and probabilities (see
# ssd_ext/data/augmentation.py): min-IoU random crop, resize to the input size and
# horizontal flip rendered in one warp, then the photometric distortion on the
# 8-bit result. SSD300*/SSD512* add `expand` to the geometry.
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='SSDRandomGeometry', size=(input_size, input_size), expand=None,
         min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3, flip_prob=0.5),
    dict(type='SSDPhotometricDistortion', brightness_delta=32,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]

train_dataloader = dict(
    batch_size=4,
    # Sized to the machine by ssd_ext's tools/train.py and tools/test.py when they
    # build the Runner (ssd_ext/engine/launch/loader_workers.py; other launchers: set a
    # number): MMDetection's 2 workers per GPU cannot keep up with SSD on a GPU.
    num_workers='auto',
    persistent_workers=True,
    # Infinite sampler: MMEngine 0.10.7's iteration loop sleeps 2 s whenever a finite
    # sampler's pass over the data ends (docs/upstream.md). ResumableInfiniteSampler
    # draws the same indices as MMEngine's InfiniteSampler and lets
    # FastResumeIterBasedTrainLoop start it mid-stream on resume
    # (ssd_ext/engine/resume/sampler.py).
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=8,
    num_workers='auto',
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CheckedCocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
