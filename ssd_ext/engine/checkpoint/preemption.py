"""Preemption: a signal makes training save the iteration it is in and exit.

Rule: after SIGTERM (Slurm preempting or cancelling a job, torchrun stopping
its workers) or SIGUSR1 (Slurm's ``--signal=USR1@SECONDS``), training finishes
the iteration, saves it through :class:`AtomicCheckpointHook`, logs it and exits
with :data:`PREEMPTED_EXIT_CODE` (143, the shell's code for SIGTERM), on which
``tools/slurm_train.sh`` requeues the job with ``--resume``. The handler only
records the signal; every rank all-reduces the flag after each iteration, so
all stop after the same one. DataLoader workers forked meanwhile start with the
signals blocked (Slurm signals every process of the job).
"""
import os
import signal
import sys
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce, barrier, get_world_size
from mmengine.hooks import Hook

from ssd_ext.engine.checkpoint.atomic_checkpoint_hook import AtomicCheckpointHook
from ssd_ext.registry import HOOKS

PREEMPTED_EXIT_CODE = 143
DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1')


def resolve_signals(names: Sequence[str]) -> Dict[str, signal.Signals]:
    """Signal names (``'SIGTERM'``) to signals; an unknown name is an error naming it."""
    if isinstance(names, str):
        raise TypeError(f'PreemptionHook signals must be a list of names, got {names!r}')
    unknown = [n for n in names if n not in signal.Signals.__members__]
    if unknown:
        raise ValueError(f'PreemptionHook signals: unknown signal name(s) {unknown}; '
                         f'e.g. {list(DEFAULT_SIGNALS)}')
    return {n: signal.Signals[n] for n in names}


# Blocked in DataLoader workers forked while a PreemptionHook trains: torch 2.13
# lets a SIGTERM that is not from a worker's parent kill the worker, which fails
# the main process before the iteration boundary (docs/upstream.md). Only in
# DataLoader workers: other children (a metric's multiprocessing Pool) are
# stopped by their parent with SIGTERM, and would never end with it blocked.
_BLOCKED_IN_CHILDREN: Tuple[signal.Signals, ...] = ()
_DATA_LOADER_FILE = os.path.join('torch', 'utils', 'data', 'dataloader.py')


def forked_by_data_loader() -> bool:
    """Whether the fork being made was called from PyTorch's DataLoader (the
    child runs on the parent's Python stack until it returns from fork)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.endswith(_DATA_LOADER_FILE):
            return True
        frame = frame.f_back
    return False


def _block_in_forked_child() -> None:
    if _BLOCKED_IN_CHILDREN and forked_by_data_loader():
        signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED_IN_CHILDREN)


os.register_at_fork(after_in_child=_block_in_forked_child)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Saves the iteration after ``signals`` and exits with ``exit_code``.

    ``LOWEST``: the checkpoint follows every other ``after_train_iter`` hook (the
    scheduler's step, the log line). ``tools/train.py`` adds it to every run.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = DEFAULT_SIGNALS,
                 exit_code: int = PREEMPTED_EXIT_CODE) -> None:
        self.signals = resolve_signals(signals)
        if not isinstance(exit_code, int) or not 1 <= exit_code <= 255:
            raise ValueError(f'PreemptionHook exit_code must be an integer in 1..255, '
                             f'got {exit_code!r}')
        self.exit_code = exit_code
        self.received: Optional[str] = None  # name of the first signal received
        self.stopped_at: Optional[int] = None  # iterations done when stopping
        self._previous: Dict[signal.Signals, object] = {}

    def _record(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name

    def before_train(self, runner) -> None:
        # Before the loop forks its DataLoader workers, which block the signals.
        global _BLOCKED_IN_CHILDREN
        self.checkpoint_hook(runner)
        for sig in self.signals.values():
            self._previous[sig] = signal.signal(sig, self._record)
        _BLOCKED_IN_CHILDREN = tuple(self.signals.values())

    def checkpoint_hook(self, runner) -> AtomicCheckpointHook:
        """The run's iteration-based :class:`AtomicCheckpointHook`, which writes
        the preemption checkpoint; its absence is an error naming the hooks."""
        found = [h for h in runner.hooks if isinstance(h, AtomicCheckpointHook)]
        if not found or found[0].by_epoch:
            names = [type(h).__name__ for h in runner.hooks]
            raise ValueError('PreemptionHook needs default_hooks.checkpoint to be an '
                             "AtomicCheckpointHook with by_epoch=False; the run's hooks "
                             f'are {names}')
        return found[0]

    def stop_requested(self) -> bool:
        """Whether any rank received a signal (all ranks get the same answer)."""
        flag = torch.tensor([0 if self.received is None else 1])
        if get_world_size() > 1:
            all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self.stopped_at is not None or not self.stop_requested():
            return
        step = runner.iter + 1
        if step >= runner.max_iters:
            return  # the last iteration: the run ends as usual
        path = self.checkpoint_hook(runner).save_iteration(runner)
        barrier()  # rank 0 has written the checkpoint before any rank exits
        self.stopped_at = step
        runner.train_loop.stop_training = True
        runner.logger.warning(
            f'Preempted ({self.received or "another rank"}): stopped after iteration '
            f'{step} with checkpoint {path}; exiting with code {self.exit_code} '
            '(resume with --resume)')

    def after_run(self, runner) -> None:
        global _BLOCKED_IN_CHILDREN
        if self.stopped_at is not None:
            # Handlers stay: a second signal (torchrun stops the other ranks
            # with SIGTERM) must not cut the exit short.
            raise SystemExit(self.exit_code)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}
        _BLOCKED_IN_CHILDREN = ()
