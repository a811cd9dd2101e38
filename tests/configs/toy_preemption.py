# A toy regression (tests/ssd_testkit/preemption_toy.py) trained by
# tools/train.py and tools/dist_train.sh in a few seconds: 8 iterations of 2
# samples, SGD with momentum and a step in the learning rate (so optimizer and
# scheduler state matter), a checkpoint every 3 iterations and at the end.
# Run with tests/ on PYTHONPATH (for ssd_testkit.preemption_toy).
default_scope = 'mmdet'
custom_imports = dict(imports=['ssd_ext', 'ssd_testkit.preemption_toy'],
                      allow_failed_imports=False)
model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ToyRegressionDataset', size=12, draws=True))
train_cfg = dict(type='FastResumeIterBasedTrainLoop', max_iters=8)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[6], gamma=0.1)]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=3,
                    max_keep_ckpts=2, save_last=True),
    checkpoint_types=dict(type='AllowCheckpointTypesHook'))
custom_hooks = [dict(type='SignalAtIterationHook')]
randomness = dict(seed=7)
env_cfg = dict(mp_cfg=dict(mp_start_method='fork'), dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=1, by_epoch=False)
