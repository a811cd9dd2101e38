# configs/bccd/ssd300_bccd.py fitted to 8 BCCD training images, for
# tests/integration/test_learning.py. Run from a folder holding data/bccd (the base
# config's relative data_root): BCCD as COCO json beside its JPEGImages, with
# annotations/train8.json listing the first 8 training images.
_base_ = '../../configs/bccd/ssd300_bccd.py'

ann = 'annotations/train8.json'
# Fitting a handful of images: only flip, no photometric distortion or crops.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(300, 300), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=1,
                        dataset=dict(ann_file=ann, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(ann_file=ann))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=_base_.data_root + ann)
test_evaluator = val_evaluator

max_iters = 60
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters))
randomness = dict(seed=0)
