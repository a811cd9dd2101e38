default_scope = 'mmdet'
custom_imports = dict(imports=['ssd_ext'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook whose checkpoints and `last_checkpoint` survive a kill at
    # any moment of a save (ssd_ext/engine/checkpoint/atomic_checkpoint_hook.py).
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=10000,
                    max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Before load_from/resume: MMEngine's checkpoint types read weights-only.
    checkpoint_types=dict(type='AllowCheckpointTypesHook'),
    visualization=dict(type='DetVisualizationHook'))

# Stop before the first iteration if dataset classes and num_classes disagree;
# stop at once (naming the term) if a loss goes NaN/inf, never saving NaN weights.
custom_hooks = [
    dict(type='DatasetModelConsistencyHook'),
    dict(type='NonFiniteLossHook', action='stop'),
]

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends,
                  name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
