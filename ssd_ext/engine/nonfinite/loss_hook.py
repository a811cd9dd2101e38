"""Stop, or skip the step, on a non-finite loss, before it reaches the weights.

:class:`NonFiniteLossHook` registers a :class:`~ssd_ext.engine.nonfinite.guard.
NonFiniteGuard` on the runner's model and optimizers (any ``OptimWrapper``:
plain, ``CPUAutocastOptimWrapper``, ``AmpOptimWrapper``; nothing to change in
``optim_wrapper``), which holds back the optimizer step of a non-finite loss or
gradient on every rank. Right after the model's ``train_step`` (before any other
hook of the iteration: logging, checkpointing) the hook restores the BatchNorm
running statistics the bad forward pass may have polluted, names the likely
cause (:mod:`ssd_ext.engine.nonfinite.diagnosis`) and, by ``action``:

``'stop'`` (default)
    raises :class:`NonFiniteLossError` naming the iteration, the non-finite loss
    terms (or parameters with non-finite gradients) and the cause. The weights
    are still those of the last step taken and no checkpoint is written, so the
    last checkpoint in the work dir stays the last good one.
``'skip'``
    logs a warning and goes on with the next batch; the non-finite values are
    kept out of the logged averages. After ``max_consecutive_skips`` skipped
    steps in a row it stops as above.

As a last line of defence the hook refuses to save a checkpoint whose weights or
optimizer state hold NaN/inf (``before_save_checkpoint``).

Config::

    custom_hooks = [dict(type='NonFiniteLossHook', action='skip',
                         max_consecutive_skips=5)]
"""
import logging
from typing import Any, Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import EpochBasedTrainLoop

from ssd_ext.engine.nonfinite.checkpoint_scan import nonfinite_checkpoint_entries
from ssd_ext.engine.nonfinite.diagnosis import (ADVICE, Cause, Diagnosis, Findings, batch_problems,
                                                diagnose, optimizer_state_items, parameter_names,
                                                unprotected_fused_sgd)
from ssd_ext.engine.nonfinite.guard import NonFiniteGuard, SkippedStep
from ssd_ext.engine.nonfinite.tensors import fmt, is_finite, nonfinite_names, shorten
from ssd_ext.registry import HOOKS
from ssd_ext.utils.model import unwrap_model

ACTIONS = ('stop', 'skip')


class NonFiniteLossError(RuntimeError):
    """Training stopped on a non-finite loss or gradient."""


def optim_wrappers(optim_wrapper: Any) -> List[OptimWrapper]:
    """The ``OptimWrapper`` objects of a runner's ``optim_wrapper``."""
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    if isinstance(optim_wrapper, OptimWrapper):
        return [optim_wrapper]
    return []


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stops training, or skips the optimizer step, on a NaN/inf loss.

    Args:
        action: ``'stop'`` (raise :class:`NonFiniteLossError`) or ``'skip'``
            (drop the step, go on).
        max_consecutive_skips: With ``'skip'``, stop after this many skipped
            steps in a row.
        check_grads: Also skip/stop on non-finite gradients of a finite loss
            (not under ``AmpOptimWrapper``: its loss scaler skips those steps).
        restore_buffers: Undo the buffer updates (BatchNorm running stats) of
            the iteration whose step is skipped.
    """

    # Before RuntimeInfoHook (VERY_HIGH), which logs the outputs, and before
    # CheckpointHook.
    priority = 'HIGHEST'

    def __init__(self, action: str = 'stop', max_consecutive_skips: int = 5,
                 check_grads: bool = True, restore_buffers: bool = True) -> None:
        if action not in ACTIONS:
            raise ValueError(f'action={action!r} is not allowed; choose one of '
                             f'{list(ACTIONS)}')
        if isinstance(max_consecutive_skips, bool) or not isinstance(
                max_consecutive_skips, int) or max_consecutive_skips < 1:
            raise ValueError(f'max_consecutive_skips must be an int >= 1, got '
                             f'{max_consecutive_skips!r}')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.check_grads = check_grads
        self.restore_buffers = restore_buffers
        self.guard: Optional[NonFiniteGuard] = None
        self.wrappers: List[OptimWrapper] = []
        self.skipped = 0
        self.consecutive = 0
        self.last_step_iter = 0
        # First iteration of a window whose loss went non-finite before the
        # window's step (gradient accumulation).
        self.pending_since: Optional[int] = None
        self._saved_buffers: Optional[List[torch.Tensor]] = None

    def before_train(self, runner) -> None:
        self.wrappers = optim_wrappers(runner.optim_wrapper)
        if not self.wrappers:
            print_log(f'NonFiniteLossHook: optim_wrapper {type(runner.optim_wrapper)}'
                      f' is not an OptimWrapper; only after-the-fact checks apply',
                      logger='current', level=logging.WARNING)
        if self.guard is not None:  # train() called again after a run that raised
            self.guard.remove()
        self.guard = NonFiniteGuard(unwrap_model(runner.model), self.wrappers,
                                    self.check_grads) if self.wrappers else None
        self.skipped = self.consecutive = 0
        self.last_step_iter = runner.iter
        self.pending_since = None

    def after_train(self, runner) -> None:
        if self.guard is not None:
            self.guard.remove()
            self.guard = None
        if self.skipped:
            print_log(f'NonFiniteLossHook: {self.skipped} optimizer steps were '
                      f'skipped on non-finite losses/gradients', logger='current',
                      level=logging.WARNING)

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        if self.restore_buffers:
            self._saved_buffers = [b.detach().clone()
                                   for b in unwrap_model(runner.model).buffers()]

    def _restore_buffers(self, runner) -> None:
        if self._saved_buffers:
            with torch.no_grad():
                for buf, saved in zip(unwrap_model(runner.model).buffers(),
                                      self._saved_buffers):
                    buf.copy_(saved)
        self._saved_buffers = None

    def _diagnose(self, runner, step: SkippedStep) -> Diagnosis:
        """Scans weights, optimizer state and the step's batches (only now: a
        full scan is slow) for :func:`diagnose`."""
        model = unwrap_model(runner.model)
        names = parameter_names(model)
        bad_state = [name for w in self.wrappers for name in nonfinite_names(
            optimizer_state_items(w.optimizer, names))]
        return diagnose(Findings(
            trigger=step.trigger,
            bad_weights=nonfinite_names(model.named_parameters()),
            bad_state=bad_state,
            bad_data=[p for inputs, samples in step.batches
                      for p in batch_problems(inputs, samples)],
            unprotected_fused_sgd=any(unprotected_fused_sgd(w) for w in self.wrappers)))

    def _where(self, runner) -> str:
        where = f'iteration {runner.iter + 1}'
        if self.pending_since is not None:
            where = (f'iteration {self.pending_since} (its accumulation window '
                     f'ends at iteration {runner.iter + 1})')
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        return where

    def _observation(self, runner, step: SkippedStep, outputs: Dict[str, Any]) -> str:
        """What the guard saw, e.g. ``non-finite loss at iteration 5: loss_b=nan
        (finite: loss_a)``."""
        where = self._where(runner)
        logged = [k for k in outputs if 'loss' in k and k != 'loss']
        if step.trigger is Cause.LOSS:
            text = f'non-finite loss at {where}: ' + ', '.join(
                f'{k}={fmt(v)}' for k, v in step.loss_terms.items())
            good = [k for k in logged if k not in step.loss_terms]
            return text + (f' (finite: {", ".join(good)})' if good else '')
        if step.trigger is Cause.GRADIENT:
            names = parameter_names(unwrap_model(runner.model))
            params = [names.get(id(p), '?') for p in step.params]
            terms = ', '.join(f'{k}={fmt(outputs[k])}' for k in logged)
            return (f'non-finite gradients at {where} (the loss terms are finite: '
                    f'{terms}) in {shorten(params)}')
        return f'non-finite loss or gradients on another rank at {where}'

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        outputs = outputs if outputs is not None else {}
        step = self.guard.take_skipped() if self.guard is not None else None
        bad_logged = [k for k, v in outputs.items() if not is_finite(v)]
        bad_loss = [k for k in bad_logged if 'loss' in k]
        if step is None and self.guard is not None and self.guard.loss_pending:
            # Mid accumulation window: its step will be held back and reported.
            if self.pending_since is None:
                self.pending_since = runner.iter + 1
            self._restore_buffers(runner)
            for key in bad_logged:
                outputs.pop(key)
            return
        if step is None and not bad_loss:
            self.consecutive = 0
            if any(w.should_update() for w in self.wrappers):
                self.last_step_iter = runner.iter + 1
            self._saved_buffers = None
            return
        self._restore_buffers(runner)
        if step is None:
            raise NonFiniteLossError(
                f'non-finite {", ".join(bad_loss)} at {self._where(runner)}. The '
                f'optimizer step was not guarded (the loss did not come from the '
                f"model's forward in training mode), so training stops.")
        self._handle(runner, step, outputs, bad_logged)
        self.pending_since = None

    def _handle(self, runner, step: SkippedStep, outputs: Dict[str, Any],
                bad_logged: List[str]) -> None:
        """Skips (warning) or stops (error) on a held-back step."""
        message = self._observation(runner, step, outputs)
        diagnosis = self._diagnose(runner, step)
        cause = f'Likely cause: {diagnosis.cause.value}' + (
            f' ({diagnosis.evidence})' if diagnosis.evidence else '')
        if self.action == 'skip':
            self.skipped += 1
            self.consecutive += 1
            if self.consecutive <= self.max_consecutive_skips:
                for key in bad_logged:
                    outputs.pop(key)  # keep NaN out of the logged averages
                print_log(f'{message}; skipped this optimizer step ({self.consecutive} '
                          f'in a row, {self.skipped} in all; stops after '
                          f'{self.max_consecutive_skips} in a row). {cause}. '
                          f'{diagnosis.advice}', logger='current', level=logging.WARNING)
                return
            message += (f'; {self.consecutive} steps in a row were non-finite '
                        f'(max_consecutive_skips={self.max_consecutive_skips})')
        raise NonFiniteLossError(
            f'{message}. Training stopped; the optimizer step was skipped, so the '
            f'weights are those of iteration {self.last_step_iter} and no checkpoint '
            f'of this state is written (the last checkpoint in {runner.work_dir} is '
            f'the last good one). {cause}. {diagnosis.advice}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = nonfinite_checkpoint_entries(checkpoint)
        if bad:
            raise NonFiniteLossError(
                f'refusing to save a checkpoint at iteration {runner.iter}: '
                f'non-finite values in {shorten(bad)}. The guard lets no non-finite '
                f'loss or gradient through. {ADVICE[Cause.OPTIMIZER_STATE]}')


__all__ = ['NonFiniteLossHook', 'NonFiniteLossError', 'optim_wrappers']
