# ssd300_bccd_short.py at a quarter of the channels (VGG16, extra layers and
# head), trained in tests/tools/test_deploy.py for two minutes: a detector with
# real, imperfect scores on BCCD's unseen validation images, so INT8's AP50
# against fp32 is measured where it matters, at a sixteenth of SSD300's cost.
# Narrow layers lose more to 8 bits than wide ones, so the INT8 bar is no
# easier here than on SSD300; the priors, L2Norm and post-processing are SSD300's.
_base_ = './ssd300_bccd_short.py'

channels = (128, 256, 128, 64, 64, 64)
model = dict(
    backbone=dict(widen_factor=0.25),
    neck=dict(in_channels=channels[:2], out_channels=channels),
    bbox_head=dict(in_channels=channels))

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
