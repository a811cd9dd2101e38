# tests/configs/ssd300_bccd8.py's recipe (configs/bccd/ssd300_bccd.py with light
# augmentation) on all 205 BCCD training images, evaluated on the 87 validation
# images: a short run whose detector has real, imperfect scores on unseen
# images (docs/benchmarks.md, Deploy). Run from a folder holding data/bccd
# with annotations/{train,val}.json.
_base_ = './ssd300_bccd8.py'

train_dataloader = dict(batch_size=8, dataset=dict(ann_file='annotations/train.json'))
val_dataloader = dict(dataset=dict(ann_file='annotations/val.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=_base_.data_root + 'annotations/val.json')
test_evaluator = val_evaluator

max_iters = 150
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
