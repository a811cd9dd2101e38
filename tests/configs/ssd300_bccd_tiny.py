# configs/bccd/ssd300_bccd.py cut to 2 iterations on 4 images, for
# tests/integration/test_distributed.py. Run from a folder holding data/bccd/ (BCCD
# as COCO json with the 4-image subsets annotations/{train,val}_small.json) with
# tests/ on PYTHONPATH (for ssd_testkit.distributed_hooks). What differs from the
# base:
# - each rank dumps its parameters before and after training; the non-finite
#   guard stays, so the ranks' agreement on every step is exercised;
# - two images per process (the BN after the last 1x1 feature map cannot train
#   on one), no data workers, batch 1 for evaluation;
# - one validation at the end, raw per-iteration values in the log.
_base_ = '../../configs/bccd/ssd300_bccd.py'

data_root = 'data/bccd/'
custom_imports = dict(imports=['ssd_ext', 'ssd_testkit.distributed_hooks'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='NonFiniteLossHook'), dict(type='DumpRankParamsHook')]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/train_small.json'))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/val_small.json'))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val_small.json')
test_evaluator = val_evaluator
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=2, max_keep_ckpts=1))
log_processor = dict(window_size=1)
