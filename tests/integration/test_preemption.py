"""Preemption and elastic restarts, end to end through ``tools/train.py`` and
``tools/dist_train.sh`` on the toy config ``tests/configs/toy_preemption.py``
(8 iterations, checkpoints at 3, 6 and 8):

- a signal at iteration 5 saves ``iter_5.pth`` (not an interval checkpoint),
  logs it and exits 143; ``--resume`` then ends with the uninterrupted run's
  weights and optimizer state bit for bit: in one process whose data workers'
  random draws feed the loss (SIGTERM to every process, as Slurm sends it;
  the uninterrupted run loads in the main process, the preempted one with 1
  worker, the resumed one with 2), and on 2 gloo processes where only rank 1
  is signalled (SIGUSR1), so both ranks must agree to stop;
- ``MAX_RESTARTS=1 tools/dist_train.sh`` with rank 1 SIGKILLed in iteration 5
  restarts the group, which resumes from ``iter_3.pth`` by itself and ends
  with the uninterrupted 2-process run's weights bit for bit.

Every sample draws from (seed, position), so all of this holds with random
draws on every rank and any number of workers (docs/reliability.md).
"""
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import REPO_ROOT, assert_same_weights_and_optimizer, run_tool, tool_env

from ssd_ext.engine.checkpoint import PREEMPTED_EXIT_CODE
from ssd_ext.utils.checkpoint_io import safe_load
from ssd_testkit import SYS_PATH_ENTRY

CONFIG = str(REPO_ROOT / 'tests' / 'configs' / 'toy_preemption.py')
TRAIN = [sys.executable, str(REPO_ROOT / 'tools' / 'train.py'), CONFIG]
DIST_TRAIN = [str(REPO_ROOT / 'tools' / 'dist_train.sh'), CONFIG, '2']
MAX_ITERS = 8


def _workers(n: int) -> List[str]:
    return ['--cfg-options', f'train_dataloader.num_workers={n}']


def _env(**fault: str) -> Dict[str, str]:
    env = tool_env(SYS_PATH_ENTRY)  # for ssd_testkit.preemption_toy, which the config imports
    for key in ('FAULT_SIGNAL', 'FAULT_ITER', 'FAULT_RANK', 'FAULT_MARKER', 'MAX_RESTARTS'):
        env.pop(key, None)
    env.update(fault)
    return env


def _run(cmd: List[str], env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``cmd`` in a process group of its own (a fault may signal all of it)."""
    return subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600,
                          start_new_session=True)


def _losses(output: str) -> Dict[int, str]:
    return {int(i): loss for i, loss in
            re.findall(r'Iter\(train\) \[(\d+)/\d+\].*?loss: ([-\d.e+]+)', output)}


def _assert_same_weights(work_dir: Path, reference: Path) -> None:
    assert_same_weights_and_optimizer(work_dir / f'iter_{MAX_ITERS}.pth',
                                      reference / f'iter_{MAX_ITERS}.pth')


def _assert_preempted_at(work_dir: Path, output: str, step: int, cause: str) -> None:
    ckpt = work_dir / f'iter_{step}.pth'
    assert (f'Preempted ({cause}): stopped after iteration {step} with checkpoint {ckpt}; '
            f'exiting with code {PREEMPTED_EXIT_CODE}') in output, output[-4000:]
    assert (work_dir / 'last_checkpoint').read_text().strip() == str(ckpt)
    assert safe_load(ckpt)['meta']['iter'] == step
    assert not (work_dir / f'iter_{MAX_ITERS}.pth').exists()


@pytest.fixture(scope='module')
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp('preemption')


@pytest.fixture(scope='module')
def two_process_reference(root) -> Path:
    work_dir = root / 'dist_reference'
    run_tool(DIST_TRAIN + ['--work-dir', str(work_dir)], _env(), root)
    return work_dir


def test_sigterm_saves_the_iteration_exits_143_and_resumes_exactly(root):
    reference = root / 'reference'
    ref_out = run_tool(TRAIN + ['--work-dir', str(reference)] + _workers(0), _env(), root)

    work_dir = root / 'sigterm'
    # to the main process and its data worker, as Slurm signals a job
    env = _env(FAULT_SIGNAL='SIGTERM', FAULT_ITER='4', FAULT_TO_GROUP='1',
               FAULT_MARKER=str(root / 'sigterm.sent'))
    proc = _run(TRAIN + ['--work-dir', str(work_dir)] + _workers(1), env, root)
    assert proc.returncode == PREEMPTED_EXIT_CODE, proc.stdout[-4000:]
    assert (root / 'sigterm.sent').exists()
    _assert_preempted_at(work_dir, proc.stdout, 5, 'SIGTERM')

    out = run_tool(TRAIN + ['--work-dir', str(work_dir), '--resume'] + _workers(2), env, root)
    assert 'Resumed the data stream at iteration 5' in out, out[-4000:]
    losses = {**_losses(proc.stdout), **_losses(out)}
    assert losses == _losses(ref_out) and len(losses) == MAX_ITERS
    _assert_same_weights(work_dir, reference)


def test_a_signal_to_one_rank_stops_both_and_resumes_exactly(root, two_process_reference):
    work_dir = root / 'dist_sigusr1'
    env = _env(FAULT_SIGNAL='SIGUSR1', FAULT_ITER='4', FAULT_RANK='1',
               FAULT_MARKER=str(root / 'sigusr1.sent'))
    proc = _run(DIST_TRAIN + ['--work-dir', str(work_dir)], env, root)
    assert proc.returncode != 0
    # rank 0 was not signalled: it stopped on rank 1's flag (rank 1 may still
    # be exiting when torchrun, seeing rank 0 end, stops it with SIGTERM)
    _assert_preempted_at(work_dir, proc.stdout, 5, 'another rank')
    assert re.search(rf'rank +: 0 \(local_rank: 0\)\s+exitcode +: {PREEMPTED_EXIT_CODE} ',
                     proc.stdout), proc.stdout[-4000:]

    out = run_tool(DIST_TRAIN + ['--work-dir', str(work_dir), '--resume'],
                   _env(), root)
    assert 'Resumed the data stream at iteration 5' in out, out[-4000:]
    _assert_same_weights(work_dir, two_process_reference)


def test_max_restarts_resumes_a_killed_group_exactly(root, two_process_reference):
    work_dir = root / 'dist_sigkill'
    marker = root / 'sigkill.sent'
    env = _env(MAX_RESTARTS='1', FAULT_SIGNAL='SIGKILL', FAULT_ITER='4', FAULT_RANK='1',
               FAULT_MARKER=str(marker))
    out = run_tool(DIST_TRAIN + ['--work-dir', str(work_dir)], env, root)
    assert marker.read_text() == 'SIGKILL rank 1 iteration 4\n'
    assert 'failed (exitcode: -9) local_rank: 1' in out, out[-4000:]
    assert 'Restart 1 of the process group' in out, out[-4000:]
    assert f'Auto resumed from the latest checkpoint {work_dir / "iter_3.pth"}' in out
    _assert_same_weights(work_dir, two_process_reference)


def test_without_max_restarts_a_killed_group_fails(root):
    work_dir = root / 'dist_sigkill_no_restart'
    env = _env(FAULT_SIGNAL='SIGKILL', FAULT_ITER='1', FAULT_RANK='1',
               FAULT_MARKER=str(root / 'sigkill_no_restart.sent'))
    proc = _run(DIST_TRAIN + ['--work-dir', str(work_dir)], env, root)
    assert proc.returncode != 0
    assert 'Restart 1 of the process group' not in proc.stdout
    assert not (work_dir / f'iter_{MAX_ITERS}.pth').exists()


def test_resume_on_another_number_of_processes_keeps_the_global_batch(root,
                                                                      two_process_reference):
    """The 2-process run (2 x 2 samples) resumed by one process: with batch_size
    4 it trains on the same samples and draws (the toy's mean loss makes the
    steps equal up to rounding); with batch_size 2 it is refused."""
    import torch
    checkpoint = str(two_process_reference / 'iter_6.pth')
    one_process = root / 'one_process'
    out = run_tool(TRAIN + ['--work-dir', str(one_process), '--resume', checkpoint,
                            '--cfg-options', 'train_dataloader.batch_size=4'], _env(), root)
    assert 'Resumed the data stream at iteration 6 (global sample 24, seed 7)' in out
    ours = safe_load(one_process / f'iter_{MAX_ITERS}.pth')['state_dict']
    reference = safe_load(two_process_reference / f'iter_{MAX_ITERS}.pth')['state_dict']
    for key, value in reference.items():
        torch.testing.assert_close(ours[key], value, rtol=0, atol=1e-6)

    refused = _run(TRAIN + ['--work-dir', str(root / 'refused'), '--resume', checkpoint],
                   _env(), root)
    assert refused.returncode != 0
    assert ('the checkpoint was trained with a global batch of 4 samples, this run has 2 '
            '(1 processes x batch_size 2)') in refused.stdout, refused.stdout[-3000:]
