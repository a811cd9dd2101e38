# First-run default: SSD on the synthetic shapes the project draws itself
# (tools/misc/make_shapes_dataset.py), trained from scratch on a CPU.
# What differs from the paper's SSD300 and why:
# - 160x160 input and 5 prior levels (20, 10, 5, 3, 1): a quarter of SSD300's
#   compute; strides are derived from the input size.
# - VGG16 and extra layers at a quarter of the channels (widen_factor=0.25): three
#   shape classes need far less capacity, and a sixteenth of the compute keeps the
#   job short in fp32 on CPUs without native bf16 (docs/benchmarks.md#quickstart).
# - BatchNorm after every conv: from random init, plain VGG16 at SGD 1e-3 either
#   crawls or diverges; BN lets it train at a high lr from the first step.
# - AdamW with a short warmup and gradient clipping: robust from scratch.
# - no ImageNet VGG16 (backbone init_cfg=None, Kaiming): a quarter-width VGG has no
#   pretrained weights, and the first run needs no download.
_base_ = ['../_base_/models/ssd300.py', '../_base_/default_runtime.py']

input_size = 160
data_root = 'data/shapes/'
classes = ('circle', 'square', 'triangle')
norm_cfg = dict(type='BN')
channels = (128, 256, 128, 64, 64)
model = dict(
    backbone=dict(norm_cfg=norm_cfg, widen_factor=0.25, init_cfg=None),
    neck=dict(in_channels=channels[:2], out_channels=channels, level_strides=(2, 2, 1),
              level_paddings=(1, 1, 0), norm_cfg=norm_cfg),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=channels,
        prior_generator=dict(
            input_size=input_size, strides=None,
            ratios=[[2], [2, 3], [2, 3], [2], [2]],
            scale_range=(0.2, 0.9), first_level_scale=0.1),
        background_prior=0.99))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    # InfiniteSampler's index stream, resumable mid-stream (ssd_ext/engine/resume/sampler.py)
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    dataset=dict(type='CheckedCocoDataset', data_root=data_root,
                 metainfo=dict(classes=classes),
                 ann_file='annotations/train.json', data_prefix=dict(img='train/'),
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CheckedCocoDataset', data_root=data_root,
                 metainfo=dict(classes=classes),
                 ann_file='annotations/val.json', data_prefix=dict(img='val/'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CheckedCocoMetric', ann_file=data_root + 'annotations/val.json',
                     metric='bbox')
test_evaluator = val_evaluator

max_iters = 800
# Resumes exactly without re-loading past batches (ssd_ext/engine/resume/train_loop.py)
train_cfg = dict(type='FastResumeIterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
