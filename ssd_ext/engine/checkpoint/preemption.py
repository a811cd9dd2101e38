"""Preemption: a signal makes training save the iteration it is in and exit.

Rule: on SIGTERM (what Slurm sends a preempted or cancelled job, and what
torchrun sends its workers when it stops them) or SIGUSR1 (the usual choice for
Slurm's ``--signal=USR1@SECONDS`` warning before the time limit), training
finishes the current iteration (its optimizer step, scheduler step and log
line), writes ``iter_N.pth`` and the ``last_checkpoint`` pointer through the
configured :class:`AtomicCheckpointHook`, logs it, and exits with
:data:`PREEMPTED_EXIT_CODE` (143, the shell's code for a SIGTERM), which
``tools/slurm_train.sh`` answers by requeueing the job with ``--resume``.

With several processes the signal may reach only some of them: every rank
all-reduces its flag (max) after each iteration, so all ranks stop after the
same one. The handler only records the signal; everything else happens at the
iteration boundary, in the main thread, between two steps. Processes forked
meanwhile (DataLoader workers) start with the signals blocked: Slurm sends them
to every process of the job.
"""
import os
import os.path as osp
import signal
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.dist import all_reduce, barrier, get_world_size
from mmengine.hooks import Hook

from ssd_ext.engine.checkpoint.hook import AtomicCheckpointHook
from ssd_ext.registry import HOOKS

PREEMPTED_EXIT_CODE = 143
DEFAULT_SIGNALS = ('SIGTERM', 'SIGUSR1')


def resolve_signals(names: Sequence[str]) -> Dict[str, signal.Signals]:
    """Signal names (``'SIGTERM'``) to signals; an unknown name is an error naming it."""
    if isinstance(names, str):
        raise TypeError(f'PreemptionHook signals must be a list of names, got {names!r}')
    known = {s.name: s for s in signal.Signals}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f'PreemptionHook signals: unknown signal name(s) {unknown}; '
                         f'e.g. {list(DEFAULT_SIGNALS)}')
    return {n: known[n] for n in names}


# Signals that processes forked from here (DataLoader workers) start with
# blocked, while a PreemptionHook is training. Slurm signals every process of a
# job step; a worker killed by it (PyTorch's worker SIGTERM handler lets a
# SIGTERM that is not from its parent kill it) fails the main process before the
# iteration boundary. Blocked, the signal stays pending in the worker until the
# main process shuts it down.
_BLOCKED_IN_CHILDREN: Tuple[signal.Signals, ...] = ()


def _block_in_forked_child() -> None:
    if _BLOCKED_IN_CHILDREN:
        signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED_IN_CHILDREN)


os.register_at_fork(after_in_child=_block_in_forked_child)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Saves a checkpoint at the next iteration boundary after ``signals`` and
    exits with ``exit_code`` (module docstring).

    Runs after every other ``after_train_iter`` hook (``LOWEST``), so the
    checkpoint holds the scheduler's step and the iteration's log line is
    written; an iteration the checkpoint hook has just saved is not saved again.
    ``tools/train.py`` adds it to every training run that does not list it.
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
        ckpt_hook = self.checkpoint_hook(runner)
        filename = ckpt_hook.filename_tmpl.format(step)
        if osp.basename(str(ckpt_hook.last_ckpt)) != filename:
            ckpt_hook.save_step_checkpoint(runner, step, dict(epoch=runner.epoch, iter=step))
        barrier()  # rank 0 has written the checkpoint before any rank exits
        self.stopped_at = step
        runner.train_loop.stop_training = True
        cause = self.received or 'another rank'
        runner.logger.warning(
            f'Preempted ({cause}): stopped after iteration {step} with checkpoint '
            f'{ckpt_hook.last_ckpt}; exiting with code {self.exit_code} '
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
