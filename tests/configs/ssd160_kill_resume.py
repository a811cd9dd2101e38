# configs/quickstart/ssd160_shapes.py cut to 6 iterations with kill points, for
# tests/integration/test_kill_and_resume.py. Run from a folder holding data/shapes/
# (16 train, 4 val synthetic images) with tests/ on PYTHONPATH (for
# ssd_testkit.kill_points). What differs from the base:
# - a train dataset that logs every sample it loads, one worker;
# - checkpoints every 3 iterations through the kill-point backend, only one kept
#   (MMEngine's CheckpointHook deletes the only checkpoint before writing the next);
# - no validation, raw per-iteration values in scalars.json, deterministic kernels.
_base_ = '../../configs/quickstart/ssd160_shapes.py'
custom_imports = dict(imports=['ssd_ext', 'ssd_testkit.kill_points'], allow_failed_imports=False)

train_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=True,
                        dataset=dict(type='LoadCountingCocoDataset'))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_iters=6, val_begin=1000)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=3, max_keep_ckpts=1,
                    backend_args=dict(backend='kill_points_local')))
custom_hooks = [dict(type='KillInIterationHook')]
log_processor = dict(window_size=1)
randomness = dict(seed=0, deterministic=True)
