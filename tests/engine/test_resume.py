"""Reliability: atomic checkpoints and fast, exact resume.

Unit tests first (atomic writes, the resumable sampler, RNG states, a toy runner
resuming in-process with and without DataLoader workers), then real training
runs of a tiny ``ssd160_shapes`` config in subprocesses that are SIGKILLed during
an iteration and at several moments of a checkpoint save, resumed with
``tools/train.py --resume``, and compared with an uninterrupted run: same losses
at every iteration, bit-identical final weights and optimizer state.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from itertools import islice
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.fileio.backends import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from ssd_ext.engine import (AtomicCheckpointHook, ResumableInfiniteSampler,
                            atomic_torch_save, atomic_write, get_rng_state,
                            remove_stale_partials, set_rng_state)
from ssd_ext.engine.atomic_io import atomic_open, is_partial_name, partial_path
from ssd_ext.utils.checkpoint import safe_load

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------

def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / 'sub' / 'last_checkpoint'
    atomic_write(target, 'first')
    atomic_write(target, 'second')
    assert target.read_text() == 'second'
    atomic_write(tmp_path / 'blob', b'\x00\x01')
    assert (tmp_path / 'blob').read_bytes() == b'\x00\x01'
    assert not [p for p in tmp_path.rglob('*') if is_partial_name(p.name)]


def test_failed_atomic_write_keeps_old_file(tmp_path):
    target = tmp_path / 'ckpt.pth'
    atomic_torch_save({'v': 1}, target)
    with pytest.raises(RuntimeError):
        with atomic_open(target, 'wb') as f:
            f.write(b'torn')
            raise RuntimeError('interrupted')
    assert torch.load(target, weights_only=True) == {'v': 1}
    assert sorted(os.listdir(tmp_path)) == ['ckpt.pth']


def test_partial_names():
    name = os.path.basename(partial_path('/x/iter_4.pth'))
    assert name == f'.iter_4.pth.partial-{os.getpid()}'
    assert is_partial_name(name)
    assert not is_partial_name('iter_4.pth')
    assert not is_partial_name('.iter_4.pth.partial-')
    assert not name.endswith('.pth')


SLOW_SAVE = '''
import sys, time, torch
from ssd_ext.engine.atomic_io import atomic_torch_save

class Stall:
    """Pickling it means the save is under way: tell the test, wait to be killed."""
    def __reduce__(self):
        open(sys.argv[2], 'w').close()
        time.sleep(600)
        return (int, (0,))

atomic_torch_save({'v': 2, 'big': torch.ones(1 << 20), 'stall': Stall()}, sys.argv[1])
'''


def test_sigkill_during_atomic_torch_save(tmp_path):
    target, marker = tmp_path / 'ckpt.pth', tmp_path / 'saving'
    atomic_torch_save({'v': 1}, target)
    proc = subprocess.Popen([sys.executable, '-c', SLOW_SAVE, str(target), str(marker)],
                            cwd=REPO)
    try:
        _wait_for(lambda: marker.exists(), proc, 120, 'the save to start')
        partials = [p for p in tmp_path.iterdir() if is_partial_name(p.name)]
        assert len(partials) == 1  # the new checkpoint was being written
    finally:
        proc.kill()  # SIGKILL
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(target, weights_only=True) == {'v': 1}
    assert remove_stale_partials(tmp_path) == [str(partials[0])]
    assert sorted(os.listdir(tmp_path)) == ['ckpt.pth', 'saving']


# ---------------------------------------------------------------------------
# sampler and RNG states
# ---------------------------------------------------------------------------

def _sampler(cls, size, rank, world_size, shuffle, seed=3):
    sampler = cls(list(range(size)), shuffle=shuffle, seed=seed)
    sampler.rank, sampler.world_size = rank, world_size  # before the first next()
    return sampler


@pytest.mark.parametrize('size,world_size,shuffle', [(7, 1, True), (10, 3, True),
                                                      (10, 3, False), (5, 4, True)])
def test_sampler_stream_is_mmengines_and_startable_anywhere(size, world_size, shuffle):
    for rank in range(world_size):
        reference = list(islice(iter(_sampler(InfiniteSampler, size, rank, world_size,
                                              shuffle)), 60))
        ours = _sampler(ResumableInfiniteSampler, size, rank, world_size, shuffle)
        assert list(islice(iter(ours), 60)) == reference
        for start in (0, 1, size - 1, size, 2 * size + 3, 23):
            ours.set_start(start)
            assert list(islice(iter(ours), 20)) == reference[start:start + 20]
            assert list(islice(iter(ours), 20)) == reference[start:start + 20]  # restarts


def test_sampler_resume_keeps_global_position_when_world_size_changes():
    reference = list(islice(iter(_sampler(InfiniteSampler, 11, 0, 1, True)), 80))
    ours = _sampler(ResumableInfiniteSampler, 11, 1, 2, True, seed=99)
    # 3 processes consumed 10 samples each: global position 30; rank 1 of 2
    # continues at 30 + 1, with the resumed seed.
    ours.resume(dict(seed=3, shuffle=True, size=11, world_size=3), consumed=10)
    assert ours.seed == 3 and ours.start == 15
    assert list(islice(iter(ours), 10)) == reference[31:51:2]


def test_sampler_skips_a_coco_schedule_quickly():
    """Resuming at the last iteration of the COCO schedule: 8 ranks x 4 images."""
    ours = _sampler(ResumableInfiniteSampler, 117266, 5, 8, True)
    started = time.perf_counter()
    ours.set_start(239999 * 4)
    first = next(iter(ours))
    elapsed = time.perf_counter() - started
    print(f'\nsampler positioned after {239999 * 4 * 8} global samples '
          f'({239999 * 4 * 8 // 117266} permutations) in {elapsed:.3f} s')
    assert 0 <= first < 117266
    assert elapsed < 30


def _draws():
    return (random.random(), float(np.random.rand()), np.random.randn(3).tolist(),
            torch.rand(4).tolist())


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in NumPy's state
    atomic_torch_save({'rng': get_rng_state()}, tmp_path / 'rng.pth')
    expected = _draws()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    set_rng_state(safe_load(tmp_path / 'rng.pth')['rng'])
    assert _draws() == expected


# ---------------------------------------------------------------------------
# toy runner: exact resume in-process, with and without workers
# ---------------------------------------------------------------------------

class DrawingDataset(Dataset):
    """Each sample draws from python, NumPy and torch RNGs, as augmentation does.

    Every load is appended to ``log`` (works from DataLoader workers too).
    """

    def __init__(self, size: int, log: str) -> None:
        self.size, self.log = size, log

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> dict:
        with open(self.log, 'a') as f:
            f.write(f'{idx}\n')
        return dict(idx=idx, py=random.random(), np=float(np.random.rand()),
                    th=float(torch.rand(())))


class RecordingModel(BaseModel):
    """Records every batch it trains on, plus a draw of model-side randomness."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen: List[dict] = []

    def forward(self, idx, py, np, th, mode='loss'):
        noise = float(torch.rand(()))  # e.g. dropout: main-process torch RNG
        self.seen.append(dict(idx=list(idx), py=list(py), np=list(np), th=list(th),
                              noise=noise))
        target = torch.tensor(sum(py) + sum(np) + sum(th) + noise)
        return dict(loss=(self.w - target).pow(2).sum())


def _toy_runner(work_dir: Path, num_workers: int, load_log: Path,
                resume_from: Optional[str] = None, load_from: Optional[str] = None,
                max_iters: int = 10, **checkpoint_args) -> Runner:
    return Runner(
        model=RecordingModel(), work_dir=str(work_dir),
        experiment_name=f'toy_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=DrawingDataset(7, str(load_log)), batch_size=2,
            num_workers=num_workers, persistent_workers=num_workers > 0,
            sampler=dict(type='ResumableInfiniteSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(type='FastResumeIterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=100),
            checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=3,
                            max_keep_ckpts=2, **checkpoint_args)),
        randomness=dict(seed=11), default_scope='mmdet',
        resume=resume_from is not None, load_from=resume_from or load_from)


def _train(runner: Runner) -> Runner:
    runner.train()
    # Stop the workers now: left to the garbage collector, PyTorch's iterator
    # can be finalised after its queues and then waits 5 s per worker.
    iterator = getattr(runner.train_loop.dataloader_iterator, '_iterator', None)
    if hasattr(iterator, '_shutdown_workers'):
        iterator._shutdown_workers()
    return runner


def _loads(log: Path) -> List[int]:
    return [int(line) for line in log.read_text().split()] if log.exists() else []


@pytest.mark.parametrize('num_workers', [0, 2])
def test_toy_resume_is_exact_and_loads_no_past_batch(tmp_path, num_workers):
    ref_log, res_log = tmp_path / 'ref_loads', tmp_path / 'resumed_loads'
    runner = _toy_runner(tmp_path / 'ref', num_workers, ref_log)
    _train(runner)
    reference, ref_w = runner.model.seen, runner.model.w.detach().clone()
    del runner
    assert len(reference) == 10
    # Checkpoints every 3 iterations, 2 kept; the pointer names the last one.
    names = sorted(p.name for p in (tmp_path / 'ref').glob('*.pth'))
    assert names == ['iter_10.pth', 'iter_9.pth']
    assert (tmp_path / 'ref' / 'last_checkpoint').read_text().endswith('iter_10.pth')

    resumed_run = _toy_runner(tmp_path / 'ref', num_workers, res_log,
                              resume_from=str(tmp_path / 'ref' / 'iter_9.pth'))
    started = time.perf_counter()
    _train(resumed_run)
    print(f'\ntoy resume (num_workers={num_workers}): data stream positioned in '
          f'{resumed_run.train_loop.resume_seconds:.4f} s, whole resumed run '
          f'{time.perf_counter() - started:.2f} s')
    resumed = resumed_run.model.seen
    # Same samples, same augmentation draws (main process or workers), same
    # model-side randomness, same weights.
    assert resumed == reference[9:]
    assert torch.equal(resumed_run.model.w.detach(), ref_w)
    loads = _loads(res_log)
    if num_workers == 0:
        assert len(loads) == 2  # the one new batch, nothing re-loaded
    else:  # plus what the workers prefetched (prefetch_factor 2 per worker)
        assert 2 <= len(loads) <= 2 + 2 * 2 * num_workers
    assert loads[:2] == reference[9]['idx']
    if num_workers:
        # The restored worker did not restart its stream from the seed (which
        # is what the first batch of the run drew).
        assert resumed[0]['py'] != reference[0]['py']


def test_toy_resume_mid_stream_with_workers(tmp_path):
    """Resume at iteration 3 of 10 with 2 workers: 7 more batches, both workers."""
    ref_log = tmp_path / 'ref_loads'
    runner = _toy_runner(tmp_path / 'ref', 2, ref_log, max_iters=10)
    _train(runner)
    reference = runner.model.seen
    del runner
    res_log = tmp_path / 'resumed_loads'
    # iter_3.pth was deleted by max_keep_ckpts; write the checkpoint of a
    # shorter run of the same config instead.
    short = _toy_runner(tmp_path / 'short', 2, tmp_path / 'short_loads', max_iters=3)
    _train(short)
    del short
    resumed_run = _toy_runner(tmp_path / 'short', 2, res_log,
                              resume_from=str(tmp_path / 'short' / 'iter_3.pth'))
    _train(resumed_run)
    assert resumed_run.model.seen == reference[3:]
    assert len(_loads(res_log)) <= 7 * 2 + 2 * 2 * 2


def test_toy_load_from_is_not_a_resume(tmp_path):
    runner = _toy_runner(tmp_path / 'ref', 0, tmp_path / 'loads', max_iters=3)
    _train(runner)
    first = runner.model.seen[0]
    del runner
    # load_from without resume: weights only, the data stream starts at 0.
    again = _toy_runner(tmp_path / 'again', 0, tmp_path / 'loads2',
                        load_from=str(tmp_path / 'ref' / 'iter_3.pth'), max_iters=1)
    _train(again)
    assert again.model.seen[0]['idx'] == first['idx']


def test_best_checkpoints_are_written_atomically(tmp_path):
    runner = _train(_toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=2,
                                save_best='acc', rule='greater'))
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))
    hook._save_best_checkpoint(runner, {'acc': 0.5})
    hook._save_best_checkpoint(runner, {'acc': 0.7})
    best = tmp_path / 'best_acc_iter_2.pth'
    assert hook.best_ckpt_path == str(best)
    assert safe_load(best)['meta']['iter'] == 2
    assert runner.message_hub.get_info('best_score') == 0.7
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'best_acc_iter_2.pth', 'iter_2.pth']
    assert not [p for p in tmp_path.iterdir() if is_partial_name(p.name)]


def test_checkpoint_named_by_last_checkpoint_is_never_deleted(tmp_path):
    class _Runner:
        work_dir = str(tmp_path)

        class logger:  # noqa: N801
            messages: List[str] = []

            @classmethod
            def info(cls, msg):
                cls.messages.append(msg)

    hook = AtomicCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1)
    hook.atomic, hook.out_dir, hook.file_backend = True, str(tmp_path), LocalBackend()
    for step in (1, 2):
        atomic_torch_save({'step': step}, tmp_path / f'iter_{step}.pth')
    atomic_write(tmp_path / 'last_checkpoint', str(tmp_path / 'iter_1.pth'))
    hook._remove_checkpoints(_Runner, [1, 2])
    assert (tmp_path / 'iter_1.pth').exists() and not (tmp_path / 'iter_2.pth').exists()
    assert 'last_checkpoint points to it' in _Runner.logger.messages[0]


# ---------------------------------------------------------------------------
# real training runs, killed and resumed
# ---------------------------------------------------------------------------

KILL_MODULE = '''
"""Test-only: kill points for tests/engine/test_resume.py, and a load counter."""
import os
import re
import time

from mmengine.hooks import Hook

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS, HOOKS
from ssd_ext.engine import AtomicCheckpointHook


def _armed(phase, step):
    return (os.environ.get('KILL_PHASE') == phase
            and int(os.environ.get('KILL_STEP', '-1')) == step)


def _stop_here(phase):
    """Tell the test where this run is, then wait for its SIGKILL."""
    with open(os.environ['KILL_MARKER'], 'w') as f:
        f.write(phase)
    time.sleep(600)
    os._exit(3)  # never killed: the test fails


def _step(path):
    return int(re.search(r'iter_(\\d+)\\.pth$', path).group(1))


@HOOKS.register_module()
class KillInIterationHook(Hook):
    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if _armed('iteration', runner.iter):
            _stop_here('iteration')


@HOOKS.register_module()
class KillPointCheckpointHook(AtomicCheckpointHook):
    def _commit(self, staged, final):
        if _armed('writing', _step(final)):
            # What a kill in the middle of writing leaves: half a file.
            os.truncate(staged, os.path.getsize(staged) // 2)
            _stop_here('writing')
        super()._commit(staged, final)

    def _write_last_checkpoint(self, runner, ckpt_path):
        if _armed('pointer', _step(ckpt_path)):
            _stop_here('pointer')
        super()._write_last_checkpoint(runner, ckpt_path)

    def _remove_checkpoint(self, runner, path):
        if _armed('removing', runner.iter + 1):
            _stop_here('removing')
        super()._remove_checkpoint(runner, path)


@DATASETS.register_module()
class LoadCountingCocoDataset(CocoDataset):
    def prepare_data(self, idx):
        with open(os.environ['LOAD_LOG'], 'a') as f:
            f.write(f'{idx}\\n')
        return super().prepare_data(idx)
'''

CONFIG = '''
_base_ = {base!r}
custom_imports = dict(imports=['ssd_ext', 'resume_killpoints'], allow_failed_imports=False)
data_root = {data_root!r}
train_dataloader = dict(
    batch_size=2, num_workers=1, persistent_workers=True,
    dataset=dict(type='LoadCountingCocoDataset', data_root=data_root))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_iters=6, val_begin=1000)  # no validation: keeps the test short
# max_keep_ckpts=1: MMEngine's CheckpointHook deletes the only checkpoint before
# writing the next one.
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(type='KillPointCheckpointHook', interval=3, max_keep_ckpts=1))
custom_hooks = [dict(type='KillInIterationHook')]
log_processor = dict(window_size=1)  # raw per-iteration values in scalars.json
randomness = dict(seed=0, deterministic=True)
'''
MAX_ITERS = 6
BATCH = 2
SCALARS = ('loss', 'loss_cls', 'loss_bbox', 'grad_norm', 'lr')


def _wait_for(condition, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f'process ended ({proc.returncode}) before {what}')
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.05)


class Shapes:
    """The tiny config, its data and helpers to run it."""

    def __init__(self, root: Path) -> None:
        from ssd_ext.data.synthetic_shapes import make_dataset
        self.root = root
        make_dataset(str(root / 'data'), 16, 4, seed=0, image_size=160)
        (root / 'resume_killpoints.py').write_text(KILL_MODULE)
        self.config = root / 'ssd160_tiny.py'
        self.config.write_text(CONFIG.format(
            base=str(REPO / 'configs/quickstart/ssd160_shapes.py'),
            data_root=f'{root / "data"}/'))
        self.runs = 0

    def train(self, work_dir: Path, resume: bool = False, kill: Optional[tuple] = None,
              load_log: Optional[Path] = None) -> Path:
        """Runs tools/train.py; ``kill=(phase, step)`` SIGKILLs it there. Returns its log."""
        self.runs += 1
        log = work_dir.parent / f'{work_dir.name}_run{self.runs}.log'
        marker = work_dir.parent / f'{work_dir.name}_run{self.runs}.killed'
        env = dict(os.environ, OMP_NUM_THREADS='1', KILL_MARKER=str(marker),
                   LOAD_LOG=str(load_log or work_dir.parent / 'loads_unused'))
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (str(self.root), env.get('PYTHONPATH')) if p)
        env.pop('KILL_PHASE', None)
        if kill:
            env['KILL_PHASE'], env['KILL_STEP'] = kill[0], str(kill[1])
        cmd = [sys.executable, str(REPO / 'tools/train.py'), str(self.config),
               '--work-dir', str(work_dir)] + (['--resume'] if resume else [])
        with open(log, 'w') as out:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
            try:
                if kill:
                    _wait_for(marker.exists, proc, 400, f'kill point {kill}')
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
    ours = safe_load(work_dir / f'iter_{MAX_ITERS}.pth')
    ref = safe_load(reference / f'iter_{MAX_ITERS}.pth')
    assert ours['state_dict'].keys() == ref['state_dict'].keys()
    for key, value in ref['state_dict'].items():
        assert torch.equal(ours['state_dict'][key], value), key
    for pid, state in ref['optimizer']['state'].items():
        for key, value in state.items():
            assert torch.equal(ours['optimizer']['state'][pid][key], value), (pid, key)


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
    loads = shapes.root / 'resumed_loads'
    started = time.perf_counter()
    log = shapes.train(work_dir, resume=True, load_log=loads)
    wall = time.perf_counter() - started
    text = log.read_text()
    match = re.search(r'Resumed the data stream at iteration 3 \((\d+) samples per '
                      r'rank\) in ([\d.]+) s, without loading any past batch; RNG '
                      r'states restored', text)
    assert match, text[-3000:]
    assert int(match.group(1)) == 3 * BATCH
    print(f'\nresume at iteration 3: data stream positioned in {match.group(2)} s; '
          f'whole resumed run (start-up, 3 iterations, 1 save) {wall:.1f} s')
    assert float(match.group(2)) < 5
    _assert_same_training(work_dir, reference)
    # Only new iterations' images were loaded: batches 3..5, plus at most the
    # worker's prefetch (prefetch_factor 2) beyond the last one. MMEngine's
    # IterBasedTrainLoop would first re-load batches 0..2 (6 images).
    resumed_loads = _loads(loads)
    new = (MAX_ITERS - 3) * BATCH
    assert new <= len(resumed_loads) <= new + 2 * BATCH, resumed_loads
    reference_loads = _loads(shapes.root / 'reference_loads')
    assert resumed_loads[:new] == reference_loads[3 * BATCH:MAX_ITERS * BATCH]


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
