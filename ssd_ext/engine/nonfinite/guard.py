"""An optimizer step whose loss or gradients hold NaN/inf is never taken, on any rank.

:func:`guard` gives an ``OptimWrapper`` (plain, ``CPUAutocastOptimWrapper``,
``SkipSafeAmpOptimWrapper``...) :class:`NonFiniteGuardMixin`'s ``backward`` and ``step``,
which ``update_params`` calls: the ranks all-reduce one flag before each step and,
if a loss since the last step or a gradient is non-finite on any of them, all skip
it (``update_params`` then zeroes the gradients; weights and optimizer state stay).
"""
from typing import List, NamedTuple, Optional, Sequence

import torch
from mmengine.dist import all_reduce
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict


class Outcome(NamedTuple):
    """One optimizer step: ``cause`` None (taken) or why it was skipped (``'loss'``,
    ``'gradient'``, ``'another rank'``); ``params`` with non-finite gradients here."""
    cause: Optional[str]
    params: Sequence[torch.Tensor] = ()


def skip_cause(local: Sequence[float], agreed: Sequence[float]) -> Optional[str]:
    """Why a step is skipped, from this rank's ``(loss, gradient)`` non-finite flags
    and their maxima over all ranks; None if all are finite. Another rank's loss
    comes before this rank's gradients: DDP averaged its NaN into them."""
    if local[0]:
        return 'loss'
    if agreed[0]:
        return 'another rank'
    if local[1]:
        return 'gradient'
    return 'another rank' if agreed[1] else None


class NonFiniteGuardMixin:
    """``backward`` records whether the loss is finite (no sync); ``step`` decides
    for all ranks (one all-reduce, one sync) and keeps the :class:`Outcome` for
    :meth:`take_outcome`. Gradients are not checked under a loss scaler
    (``AmpOptimWrapper``): they are scaled, may overflow, and it skips those steps."""

    check_grads = True
    outcome: Optional[Outcome] = None
    _loss_bad = torch.tensor(False)  # a loss since the last step was non-finite

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        self._loss_bad = self._loss_bad | ~torch.isfinite(loss.detach()).all()
        super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        self.outcome = self._decide()
        self._loss_bad = torch.tensor(False)
        if self.outcome.cause is None:
            super().step(**kwargs)

    @property
    def poisoned(self) -> bool:
        """A loss since the last step was non-finite: the next step is skipped."""
        return bool(self._loss_bad)

    def take_outcome(self) -> Optional[Outcome]:
        """The outcome of the step since the last call, if one was due."""
        outcome, self.outcome = self.outcome, None
        return outcome

    def _decide(self) -> Outcome:
        params = [p for group in self.optimizer.param_groups for p in group['params']
                  if p.grad is not None and self.check_grads
                  and not isinstance(self, AmpOptimWrapper)]
        finite = torch.stack([torch.isfinite(p.grad).all() for p in params]) if params \
            else torch.ones(1, dtype=torch.bool)
        local = torch.stack([self._loss_bad.to(finite.device), ~finite.all()]).float()
        agreed = local.clone()
        all_reduce(agreed, op='max')  # a no-op in a single process
        flags = torch.cat([local, agreed, (~finite).float()]).tolist()
        bad = [p for p, flag in zip(params, flags[4:]) if flag]
        return Outcome(skip_cause(flags[:2], flags[2:4]), bad)


def guard(wrapper: OptimWrapper, check_grads: bool = True) -> NonFiniteGuardMixin:
    """Makes ``wrapper`` skip non-finite steps, in place: it becomes an instance of
    a subclass of its class, state kept; guarding again only sets ``check_grads``."""
    if not isinstance(wrapper, OptimWrapper):
        raise TypeError(f'NonFiniteLossHook guards an OptimWrapper, got {type(wrapper)}')
    if not isinstance(wrapper, NonFiniteGuardMixin):
        cls = type(wrapper)
        wrapper.__class__ = type(f'NonFiniteGuarded{cls.__name__}', (NonFiniteGuardMixin, cls), {})
    wrapper.check_grads = check_grads
    return wrapper


def guard_all(optim_wrapper, check_grads: bool = True) -> List[NonFiniteGuardMixin]:
    """:func:`guard` for a runner's ``optim_wrapper`` or each of an ``OptimWrapperDict``."""
    wrappers = optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict) \
        else [optim_wrapper]
    return [guard(w, check_grads) for w in wrappers]
