# SSD300 on BCCD blood cells (3 classes), trained from scratch on a CPU.
# Prepare the data (COCO json beside the VOC images):
#   python tools/dataset_converters/voc_to_coco.py PATH/TO/bccd data/bccd \
#       --classes RBC WBC Platelets
#   ln -s PATH/TO/bccd/JPEGImages data/bccd/JPEGImages
# From scratch on purpose (backbone init_cfg=None, Kaiming), so it runs with no
# download; from random VGG16 the paper's recipe crawls or diverges (MMDetection's
# SSD300 went to NaN by iteration 4 at lr 2e-3). ssd300_bccd_finetune.py starts
# from MMDetection's COCO SSD300 instead. What differs from the paper and why:
# - BatchNorm after every conv, so activations stay normalised from step one;
# - AdamW at 1e-3 with a linear warmup and gradient clipping at norm 10;
# - bf16 autocast on CPU is enabled with `tools/train.py --amp`.
_base_ = '../ssd300.py'

data_root = 'data/bccd/'
classes = ('RBC', 'WBC', 'Platelets')
norm_cfg = dict(type='BN')
model = dict(
    backbone=dict(norm_cfg=norm_cfg, init_cfg=None),
    neck=dict(norm_cfg=norm_cfg),
    bbox_head=dict(num_classes=len(classes)))

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/train.json',
        data_prefix=dict(img='JPEGImages/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=0)))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/val.json',
        data_prefix=dict(img='JPEGImages/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json', classwise=True)
test_evaluator = val_evaluator

max_iters = 3000
train_cfg = dict(max_iters=max_iters, val_interval=1000)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1000, max_keep_ckpts=2))
auto_scale_lr = dict(base_batch_size=8)
