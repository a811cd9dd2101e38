"""Real training runs of a tiny SSD config, SIGKILLed during an iteration and at
several moments of a checkpoint save, resumed with ``tools/train.py --resume``
and compared with an uninterrupted run: same losses at every iteration,
bit-identical final weights and optimizer state.

The config is ``tests/configs/ssd160_kill_resume.py``; the kill points are in
``tests/ssd_testkit/kill_points.py``.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
from conftest import REPO_ROOT, assert_same_weights_and_optimizer

from ssd_ext.utils.checkpoint_io import is_partial_name
from ssd_ext.utils.checkpoint_io import safe_load
from ssd_testkit import SYS_PATH_ENTRY
from ssd_testkit.subprocess_utils import wait_for
from ssd_testkit.toy_training import loads

CONFIG = REPO_ROOT / 'tests' / 'configs' / 'ssd160_kill_resume.py'
MAX_ITERS = 6
BATCH = 2
SCALARS = ('loss', 'loss_cls', 'loss_bbox', 'grad_norm', 'lr')


class Shapes:
    """The tiny config, its data and helpers to run it."""

    def __init__(self, root: Path) -> None:
        from ssd_ext.data.synthetic_shapes import make_dataset
        self.root = root
        # where the config's relative data_root finds it, runs starting in root
        make_dataset(str(root / 'data' / 'shapes'), 16, 4, seed=0, image_size=160)
        self.runs = 0

    def train(self, work_dir: Path, resume: bool = False, kill: Optional[tuple] = None,
              load_log: Optional[Path] = None, options: Sequence[str] = ()) -> Path:
        """Runs tools/train.py (``options``: its --cfg-options); ``kill=(phase,
        step)`` SIGKILLs it there. Returns its log."""
        self.runs += 1
        log = work_dir.parent / f'{work_dir.name}_run{self.runs}.log'
        marker = work_dir.parent / f'{work_dir.name}_run{self.runs}.killed'
        env = dict(os.environ, OMP_NUM_THREADS='1', KILL_MARKER=str(marker),
                   LOAD_LOG=str(load_log or work_dir.parent / 'loads_unused'))
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (str(SYS_PATH_ENTRY), env.get('PYTHONPATH')) if p)
        env.pop('KILL_PHASE', None)
        if kill:
            env['KILL_PHASE'], env['KILL_STEP'] = kill[0], str(kill[1])
        cmd = [sys.executable, str(REPO_ROOT / 'tools/train.py'), str(CONFIG),
               '--work-dir', str(work_dir)] + (['--resume'] if resume else [])
        if options:
            cmd += ['--cfg-options', *options]
        with open(log, 'w') as out:
            proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
            try:
                if kill:
                    wait_for(marker.exists, proc, 400, f'kill point {kill}')
                    proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=400)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if kill:
            assert proc.returncode == -signal.SIGKILL
            assert marker.read_text() == kill[0]
        else:
            assert proc.returncode == 0, log.read_text()[-5000:]
        return log


def _scalars(work_dir: Path) -> Dict[int, Dict[str, float]]:
    """iteration -> logged values, from every run's vis_data/scalars.json."""
    per_iter: Dict[int, Dict[str, float]] = {}
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            values = {k: rec[k] for k in SCALARS}
            # an iteration logged by a killed run and again after resuming
            # must have the same values
            assert per_iter.setdefault(rec['iter'], values) == values, rec['iter']
    return per_iter


def _pointer(work_dir: Path) -> Path:
    return Path((work_dir / 'last_checkpoint').read_text().strip())


def _assert_valid_pointer(work_dir: Path, step: int) -> None:
    target = _pointer(work_dir)
    assert target == work_dir / f'iter_{step}.pth'
    assert safe_load(target)['meta']['iter'] == step


def _assert_same_training(work_dir: Path, reference: Path) -> None:
    assert _scalars(work_dir) == _scalars(reference)
    assert_same_weights_and_optimizer(work_dir / f'iter_{MAX_ITERS}.pth',
                                      reference / f'iter_{MAX_ITERS}.pth')


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    yield Shapes(root)
    for ckpt in root.rglob('*.pth'):  # ~280 MB each
        ckpt.unlink()


@pytest.fixture(scope='module')
def reference(shapes):
    """The uninterrupted run, with its load order."""
    work_dir = shapes.root / 'reference'
    shapes.train(work_dir, load_log=shapes.root / 'reference_loads')
    assert sorted(_scalars(work_dir)) == list(range(1, MAX_ITERS + 1))
    return work_dir


def test_sigkill_during_iteration_resumes_exactly_without_reloading(shapes, reference):
    work_dir = shapes.root / 'killed_in_iteration'
    # Killed at the start of the 5th iteration (its batch drawn, the worker
    # prefetching further), after the checkpoint of iteration 3.
    shapes.train(work_dir, kill=('iteration', 4))
    _assert_valid_pointer(work_dir, 3)
    load_log = shapes.root / 'resumed_loads'
    # Resumed with 2 workers instead of 1: the draws are the samples' own.
    log = shapes.train(work_dir, resume=True, load_log=load_log,
                       options=['train_dataloader.num_workers=2'])
    assert (f'Resumed the data stream at iteration 3 (global sample {3 * BATCH}, seed 0) '
            'without loading any past sample') in log.read_text()
    _assert_same_training(work_dir, reference)
    # Only new iterations' images were loaded: batches 3..5, plus at most the
    # workers' prefetch (prefetch_factor 2 each) beyond the last one. MMEngine's
    # IterBasedTrainLoop would first re-load batches 0..2 (6 images).
    resumed_loads = loads(load_log)
    new = (MAX_ITERS - 3) * BATCH
    assert new <= len(resumed_loads) <= new + 2 * 2 * BATCH, resumed_loads
    reference_loads = loads(shapes.root / 'reference_loads')
    expected = reference_loads[3 * BATCH:MAX_ITERS * BATCH]
    # two workers append to the log concurrently: same images, any order
    assert all(resumed_loads.count(i) >= expected.count(i) for i in expected)


def _partials(work_dir: Path) -> List[str]:
    return sorted(p.name for p in work_dir.iterdir() if is_partial_name(p.name))


def _ckpts(work_dir: Path) -> List[str]:
    return sorted((p.name for p in work_dir.glob('iter_*.pth')),
                  key=lambda n: int(n[5:-4]))


def test_sigkill_during_checkpoint_saves(shapes, reference):
    work_dir = shapes.root / 'killed_in_save'

    # 1. Killed while iter_6.pth is being written: iter_3.pth, the only one
    #    kept, is still there (MMEngine would have deleted it already).
    shapes.train(work_dir, kill=('writing', 6))
    _assert_valid_pointer(work_dir, 3)
    assert _ckpts(work_dir) == ['iter_3.pth']
    partials = _partials(work_dir)  # the half-written iter_6.pth, under its own name
    assert len(partials) == 1 and partials[0].startswith('.iter_6.pth.partial-')

    # 2. Resumed from iter_3 (the half-written file is cleared); killed after
    #    iter_6.pth is complete but before last_checkpoint names it.
    shapes.train(work_dir, resume=True, kill=('pointer', 6))
    assert _partials(work_dir) == []
    _assert_valid_pointer(work_dir, 3)
    assert safe_load(work_dir / 'iter_6.pth')['meta']['iter'] == 6
    assert _ckpts(work_dir) == ['iter_3.pth', 'iter_6.pth']

    # 3. Resumed from iter_3 again; killed after last_checkpoint names the new
    #    iter_6.pth, while iter_3.pth (beyond max_keep_ckpts=1) is being deleted.
    shapes.train(work_dir, resume=True, kill=('removing', 6))
    _assert_valid_pointer(work_dir, 6)
    assert _ckpts(work_dir) == ['iter_3.pth', 'iter_6.pth']
    _assert_same_training(work_dir, reference)

    # 4. Resumed from iter_6 (nothing left to train): the leftover iter_3.pth,
    #    recorded in iter_6.pth as still to delete, is deleted.
    shapes.train(work_dir, resume=True)
    _assert_valid_pointer(work_dir, 6)
    assert _ckpts(work_dir) == ['iter_6.pth']
    assert _partials(work_dir) == []
