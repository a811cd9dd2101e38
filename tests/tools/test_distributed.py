"""Two-process CPU runs of ``tools/dist_train.sh`` and ``tools/dist_test.sh``.

A few real BCCD images are trained for two iterations on two gloo processes;
each rank dumps its parameters before and after training, and the ranks must end
with identical, changed weights (DistributedDataParallel averages gradients; were
the model not wrapped, each rank would step on its own images and drift apart).
The checkpoint is then evaluated by ``tools/dist_test.sh`` on two processes and
by ``tools/test.py`` in one, which must agree.
"""
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import coco_subset, run_tool, tool_env

TABLE_HEADER = '| Model | AP | AP50 | AP75 | APs | APm | APl |'
NUM_PROCS = 2

# Imported by the runs through ``custom_imports`` (tmp_path is on PYTHONPATH).
HOOK_MODULE = '''
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpRankParamsHook(Hook):
    """Saves this rank's parameters before and after training."""

    def _dump(self, runner, tag):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        torch.save(dict(wrapper=type(runner.model).__name__,
                        world_size=runner.world_size, params=params),
                   osp.join(runner.work_dir, f'params_{tag}_rank{runner.rank}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'start')

    def after_train(self, runner):
        self._dump(runner, 'end')
'''

CONFIG = '''
_base_ = {base!r}

data_root = {data_root!r}
custom_imports = dict(imports=['ssd_ext', 'rank_params_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='DumpRankParamsHook')]
# Two images per process: the BN after the last 1x1 feature map cannot train on one.
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
'''


@pytest.fixture(scope='module')
def bccd_small(bccd_coco, repo_root, tmp_path_factory) -> Path:
    """tmp dir with a 4-image train and val BCCD subset, config and hook module."""
    root = tmp_path_factory.mktemp('dist')
    data_root = bccd_coco
    ann = data_root / 'annotations'
    coco_subset(ann / 'train.json', ann / 'train_small.json', 4)
    coco_subset(ann / 'val.json', ann / 'val_small.json', 4)
    (root / 'rank_params_hook.py').write_text(HOOK_MODULE)
    (root / 'ssd300_bccd_tiny.py').write_text(CONFIG.format(
        base=str(repo_root / 'configs/bccd/ssd300_bccd.py'), data_root=f'{data_root}/'))
    return root


def test_two_process_cpu_train_then_test(bccd_small, repo_root):
    root = bccd_small
    cfg = str(root / 'ssd300_bccd_tiny.py')
    train_dir = root / 'train'
    # Run from tmp_path, not the repo: the scripts must find tools/ themselves.
    out = run_tool([str(repo_root / 'tools/dist_train.sh'), cfg, str(NUM_PROCS),
                    '--work-dir', str(train_dir), '--amp',
                    '--cfg-options', 'randomness.seed=0'], tool_env(root), cwd=root)
    assert 'Iter(train) [2/2]' in out, out[-3000:]

    start = [torch.load(train_dir / f'params_start_rank{r}.pth') for r in range(NUM_PROCS)]
    end = [torch.load(train_dir / f'params_end_rank{r}.pth') for r in range(NUM_PROCS)]
    for dump in start + end:
        assert dump['wrapper'] == 'MMDistributedDataParallel'
        assert dump['world_size'] == NUM_PROCS
    names = sorted(end[0]['params'])
    assert names and names == sorted(end[1]['params'])
    diverged = [n for n in names if not torch.equal(end[0]['params'][n], end[1]['params'][n])]
    assert not diverged, f'ranks hold different weights after training: {diverged[:5]}'
    changed = [n for n in names
               if not torch.equal(start[0]['params'][n], end[0]['params'][n])]
    assert len(changed) > len(names) // 2, 'training barely changed the weights'

    ckpt = train_dir / 'iter_2.pth'
    from ssd_ext.utils.checkpoint import safe_load
    state = safe_load(ckpt)['state_dict']
    for n in names:
        assert torch.equal(state[n], end[0]['params'][n]), n

    dist_dir, single_dir = root / 'dist_test', root / 'single_test'
    out = run_tool([str(repo_root / 'tools/dist_test.sh'), cfg, str(ckpt), str(NUM_PROCS),
                    '--work-dir', str(dist_dir)], tool_env(root), cwd=root)
    assert TABLE_HEADER in out, out[-3000:]
    assert out.count(TABLE_HEADER) == 1, 'only rank 0 prints the table'
    out = run_tool([sys.executable, str(repo_root / 'tools/test.py'), cfg, str(ckpt),
                    '--work-dir', str(single_dir)], tool_env(root), cwd=root)
    assert TABLE_HEADER in out, out[-3000:]

    dist_metrics = json.loads((dist_dir / 'metrics.json').read_text())
    single_metrics = json.loads((single_dir / 'metrics.json').read_text())
    assert 'coco/bbox_mAP' in dist_metrics
    # Same model and images: the results gathered from two ranks match one process.
    assert dist_metrics == pytest.approx(single_metrics, abs=1e-6)
