"""Stop, or skip and count, each optimizer step whose loss or gradients hold NaN/inf.

:class:`NonFiniteLossHook` guards the runner's optim wrappers (:mod:`.guard`), so
such a step is never taken on any rank; after the iteration it raises
:class:`NonFiniteLossError` (``action='stop'``) or logs and counts the skip
(``'skip'``). It also refuses to save a checkpoint that holds NaN/inf.
"""
import logging
import math
from typing import Any, Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ssd_ext.engine.nonfinite.guard import Outcome, guard_all
from ssd_ext.registry import HOOKS
from ssd_ext.utils.model import unwrap_model

DOCS = 'docs/reliability.md#when-a-loss-goes-non-finite'


class NonFiniteLossError(RuntimeError):
    """Training stopped on a non-finite loss or gradient (or checkpoint)."""


def nonfinite_losses(outputs: Dict[str, Any]) -> Dict[str, float]:
    """The logged loss terms (keys with 'loss', as ``parse_losses`` sums them)
    that are NaN/inf: name -> value."""
    values = {k: float(torch.as_tensor(v).detach().float().mean())
              for k, v in outputs.items() if 'loss' in k}
    return {k: v for k, v in values.items() if not math.isfinite(v)}


def nonfinite_entries(tree: Any, prefix: str = '') -> List[str]:
    """Dotted paths of the float tensors holding NaN/inf in nested dicts, lists
    and tuples (``'state_dict.linear.weight'``)."""
    if isinstance(tree, torch.Tensor):
        return [prefix] if tree.is_floating_point() and not torch.isfinite(tree).all() else []
    items = tree.items() if isinstance(tree, dict) else \
        enumerate(tree) if isinstance(tree, (list, tuple)) else ()
    return [path for key, value in items
            for path in nonfinite_entries(value, f'{prefix}.{key}' if prefix else str(key))]


def shorten(names: List[str], limit: int = 5) -> str:
    """``'a, b'`` or ``'a, b, c, d, e and 3 more'``."""
    return ', '.join(names[:limit]) + (f' and {len(names) - limit} more'
                                       if len(names) > limit else '')


def describe(outcome: Outcome, seen: List[str], params: List[str], iteration: int) -> str:
    """The first sentence of a skip's log line or error, from ``seen`` (``'TERM=VALUE
    at iteration N'`` since the last step taken) and ``params`` (names of ``outcome.params``)."""
    what = {'loss': 'non-finite ' + ('; '.join(seen) or 'loss'),
            'gradient': f'non-finite gradients of {shorten(params)} (the loss was finite)',
            'another rank': 'a non-finite loss or gradient on another rank (its log names it)'}
    return (f'{what[outcome.cause]}; the optimizer step of iteration {iteration} was '
            f'skipped on every rank')


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stops training, or skips the optimizer step, on a NaN/inf loss or gradient.

    Args:
        action: ``'stop'`` (raise :class:`NonFiniteLossError`) or ``'skip'`` (log,
            count as ``train/nonfinite_skips`` in the message hub, go on).
        max_consecutive_skips: With ``'skip'``, stop at the step after this many
            skipped in a row.
        check_grads: Also skip steps whose loss is finite but gradients are not
            (never under a loss scaler, which skips those itself).
        restore_buffers: Undo the buffer updates (BatchNorm running statistics)
            of an iteration whose loss was non-finite.
    """

    priority = 'HIGHEST'  # before RuntimeInfoHook logs the outputs and checkpoints

    def __init__(self, action: str = 'stop', max_consecutive_skips: int = 5,
                 check_grads: bool = True, restore_buffers: bool = True) -> None:
        if action not in ('stop', 'skip'):
            raise ValueError(f"NonFiniteLossHook: action={action!r} is not allowed; choose "
                             f"one of ['stop', 'skip']")
        if type(max_consecutive_skips) is not int or max_consecutive_skips < 1:
            raise ValueError(f'NonFiniteLossHook: max_consecutive_skips must be an int >= 1, '
                             f'got {max_consecutive_skips!r}')
        self.action, self.max_consecutive_skips = action, max_consecutive_skips
        self.check_grads, self.restore_buffers = check_grads, restore_buffers
        self.buffers: Optional[List[torch.Tensor]] = None

    def before_train(self, runner) -> None:
        self.wrappers = guard_all(runner.optim_wrapper, self.check_grads)
        self.skipped = self.consecutive = 0
        self.last_step_iter, self.seen = runner.iter, []

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        if self.restore_buffers:
            self.buffers = [b.detach().clone() for b in unwrap_model(runner.model).buffers()]

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        outputs, iteration = {} if outputs is None else outputs, runner.iter + 1
        bad = nonfinite_losses(outputs)
        outcomes = [o for o in (w.take_outcome() for w in self.wrappers) if o is not None]
        skipped = [o for o in outcomes if o.cause is not None]
        if bad:
            terms = [k for k in bad if k != 'loss'] or list(bad)
            self.seen.append(f'{", ".join(f"{k}={bad[k]:g}" for k in terms)} at iteration '
                             f'{iteration}')
            for key in bad:
                outputs.pop(key)  # keep NaN out of the logged averages
            with torch.no_grad():
                for buf, saved in zip(unwrap_model(runner.model).buffers(), self.buffers or []):
                    buf.copy_(saved)
            if not skipped and not any(w.poisoned for w in self.wrappers):
                raise NonFiniteLossError(
                    f"non-finite {self.seen[-1]} did not pass through an optim wrapper's "
                    f'update_params (a train_step of its own?), so no step was skipped. '
                    f'See {DOCS}')
        if skipped:
            self._skip_or_stop(runner, skipped[0], iteration)
        elif outcomes:
            self.consecutive, self.last_step_iter, self.seen = 0, iteration, []

    def _skip_or_stop(self, runner, outcome: Outcome, iteration: int) -> None:
        names = {id(p): n for n, p in unwrap_model(runner.model).named_parameters()}
        message = describe(outcome, self.seen, [names.get(id(p), '?') for p in outcome.params],
                           iteration)
        self.seen, self.consecutive = [], self.consecutive + 1
        if self.action == 'skip' and self.consecutive <= self.max_consecutive_skips:
            self.skipped += 1
            runner.message_hub.update_scalar('train/nonfinite_skips', self.skipped)
            print_log(f'{message} ({self.consecutive} in a row, {self.skipped} in all; '
                      f'causes and fixes: {DOCS})', logger='current', level=logging.WARNING)
            return
        if self.action == 'skip':
            message += (f' ({self.consecutive} in a row, max_consecutive_skips='
                        f'{self.max_consecutive_skips})')
        raise NonFiniteLossError(
            f'{message}. Training stopped with the weights of iteration '
            f'{self.last_step_iter}; the last checkpoint in {runner.work_dir} is the last '
            f"good one. Causes and fixes: {DOCS}; NonFiniteLossHook(action='skip') skips "
            f'such steps')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        bad = nonfinite_entries({k: checkpoint.get(k) for k in ('state_dict', 'optimizer')})
        if bad:
            raise NonFiniteLossError(f'refusing to save the checkpoint of iteration '
                                     f'{runner.iter}: NaN/inf in {shorten(bad)}. See {DOCS}')
