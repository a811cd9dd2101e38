"""Two-process CPU runs of ``tools/dist_train.sh`` and ``tools/dist_test.sh``.

A few real BCCD images are trained for two iterations on two gloo processes;
each rank dumps its parameters before and after training, and the ranks must end
with identical, changed weights (DistributedDataParallel averages gradients; were
the model not wrapped, each rank would step on its own images and drift apart;
the non-finite guard all-reduces its verdict before every step).
The checkpoint is then evaluated by ``tools/dist_test.sh`` on two processes and
by ``tools/test.py`` in one, which must agree.
"""
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import coco_subset, run_tool, tool_env

from ssd_testkit import SYS_PATH_ENTRY

TABLE_HEADER = '| Model | AP | AP50 | AP75 | APs | APm | APl |'
NUM_PROCS = 2

CONFIG = 'tests/configs/ssd300_bccd_tiny.py'


@pytest.fixture(scope='module')
def bccd_small(bccd_coco, tmp_path_factory) -> Path:
    """A run folder whose ``data/bccd`` is BCCD in COCO json with 4-image train
    and val subsets, as the config expects."""
    root = tmp_path_factory.mktemp('dist')
    ann = bccd_coco / 'annotations'
    coco_subset(ann / 'train.json', ann / 'train_small.json', 4)
    coco_subset(ann / 'val.json', ann / 'val_small.json', 4)
    (root / 'data').mkdir()
    (root / 'data' / 'bccd').symlink_to(bccd_coco, target_is_directory=True)
    return root


def test_two_process_cpu_train_then_test(bccd_small, repo_root):
    root = bccd_small
    cfg = str(repo_root / CONFIG)
    env = tool_env(SYS_PATH_ENTRY)  # for ssd_testkit.distributed_hooks, which the config imports
    train_dir = root / 'train'
    # Run from tmp_path, not the repo: the scripts must find tools/ themselves.
    out = run_tool([str(repo_root / 'tools/dist_train.sh'), cfg, str(NUM_PROCS),
                    '--work-dir', str(train_dir), '--amp',
                    '--cfg-options', 'randomness.seed=0'], env, cwd=root)
    assert 'Iter(train) [2/2]' in out, out[-3000:]
    assert '(HIGHEST     ) NonFiniteLossHook' in out  # ranks agreed on every step

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
    from ssd_ext.utils.checkpoint_io import safe_load
    state = safe_load(ckpt)['state_dict']
    for n in names:
        assert torch.equal(state[n], end[0]['params'][n]), n

    dist_dir, single_dir = root / 'dist_test', root / 'single_test'
    out = run_tool([str(repo_root / 'tools/dist_test.sh'), cfg, str(ckpt), str(NUM_PROCS),
                    '--work-dir', str(dist_dir)], env, cwd=root)
    assert TABLE_HEADER in out, out[-3000:]
    assert out.count(TABLE_HEADER) == 1, 'only rank 0 prints the table'
    out = run_tool([sys.executable, str(repo_root / 'tools/test.py'), cfg, str(ckpt),
                    '--work-dir', str(single_dir)], env, cwd=root)
    assert TABLE_HEADER in out, out[-3000:]

    dist_metrics = json.loads((dist_dir / 'metrics.json').read_text())
    single_metrics = json.loads((single_dir / 'metrics.json').read_text())
    assert 'coco/bbox_mAP' in dist_metrics
    # Same model and images: the results gathered from two ranks match one process.
    assert dist_metrics == pytest.approx(single_metrics, abs=1e-6)
