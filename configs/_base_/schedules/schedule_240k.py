# The paper's COCO schedule: 240k iterations at a total batch of 32 (8 GPUs x 4),
# lr 1e-3 for 160k, 1e-4 for 40k, 1e-5 for 40k.
max_iters = 240000
# IterBasedTrainLoop that resumes exactly (same samples, same augmentation draws)
# without re-loading past batches (ssd_ext/engine/resume/train_loop.py).
train_cfg = dict(type='FastResumeIterBasedTrainLoop', max_iters=max_iters,
                 val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# fused: one kernel for decay, momentum and update over all weights, faster than the
# per-tensor loop (docs/benchmarks.md); same arithmetic, on CPUs and GPUs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4, fused=True))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[160000, 200000], gamma=0.1),
]

# --auto-scale-lr scales lr by (GPUs x samples per GPU) / 32.
auto_scale_lr = dict(enable=False, base_batch_size=32)
