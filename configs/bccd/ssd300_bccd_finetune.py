# SSD300 on BCCD blood cells (3 classes), fine-tuned from MMDetection's released
# COCO SSD300 (25.5 AP; from ImageNet VGG16). Convert the file first (README,
# Model zoo and fine-tuning; any zoo SSD300 loads, docs/model_zoo.md):
#   python tools/model_converters/mmdet_to_ssd_ext.py \
#       ssd300_coco_20210803_015428-d231a06e.pth checkpoints/ssd300_coco_mmdet.pth
# What differs from ssd300_bccd.py (from scratch) and why:
# - the paper's network (no BatchNorm): the COCO weights are for it;
# - every tensor loads strictly from the COCO model (StrictPretrained at the
#   detector, checked against the converter's .sha256) except the class logits,
#   whose shape follows the class count (81 -> 4 per prior): re-initialised and
#   each logged;
# - the paper's SGD (momentum 0.9, weight decay 5e-4) at lr 1e-3 with a warmup;
#   2000 iterations (3000 from scratch), lr x0.1 at 1500.
_base_ = './ssd300_bccd.py'

model = dict(
    init_cfg=dict(type='StrictPretrained', checkpoint='checkpoints/ssd300_coco_mmdet.pth',
                  reinit=('bbox_head.cls_convs.',)),
    backbone=dict(norm_cfg=None),
    neck=dict(norm_cfg=None))

max_iters = 2000
train_cfg = dict(max_iters=max_iters, val_interval=1000)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1500],
         gamma=0.1),
]
