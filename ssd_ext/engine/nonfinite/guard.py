"""Hold back an optimizer step whose loss or gradients are NaN/inf.

MMEngine calls Runner hooks only after ``optim_wrapper.update_params`` has
stepped the optimizer, so a Runner hook alone sees a NaN loss after the weights
are NaN. :class:`NonFiniteGuard` registers PyTorch hooks that act in between
(the optim wrapper and the model are used as they are):

* a forward hook on the bare model records, in training mode, the non-finite
  terms of the loss dict it returns (one device sync per forward) and keeps a
  reference to the batch, for the diagnosis;
* a step pre-hook on each optimizer, run when the optim wrapper steps at the end
  of its accumulation window, holds the step back if a loss of the window was
  non-finite or (where checked) a gradient is. In a distributed run all ranks
  agree first, so they stay in sync. Holding back means setting every
  parameter's ``.grad`` to None: PyTorch's optimizers (SGD, Adam, AdamW; for-loop,
  foreach and fused) leave a parameter without a gradient, and its state,
  untouched; the wrapper's ``zero_grad`` follows as usual.

The backward pass of a non-finite loss still runs: under DistributedDataParallel
every rank must join the gradient all-reduce.

Under ``AmpOptimWrapper`` gradients are not checked: they are scaled, overflow by
design, and its loss scaler skips such steps itself; for an unfused optimizer it
then does not even call ``step`` (nor the pre-hook), so a window that ends
without a step is settled in :meth:`NonFiniteGuard.take_skipped`.
"""
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple
from weakref import WeakKeyDictionary

import torch
from mmengine.dist import all_reduce
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn
from torch.optim import Optimizer

from ssd_ext.engine.nonfinite.diagnosis import Cause
from ssd_ext.engine.nonfinite.tensors import is_finite, nonfinite_grads

# (inputs, data_samples) of one forward call, as the model got them.
Batch = Tuple[Any, Any]


@dataclass
class SkippedStep:
    """An optimizer step the guard held back (on every rank).

    Attributes:
        trigger: ``Cause.LOSS``, ``Cause.GRADIENT`` or ``Cause.OTHER_RANK``.
        loss_terms: The non-finite loss terms of the window, name -> 0-d tensor.
        params: The parameters with non-finite gradients (``GRADIENT``).
        batches: The window's batches, one per forward call.
    """
    trigger: Cause
    loss_terms: Dict[str, torch.Tensor]
    params: List[torch.Tensor]
    batches: List[Batch]


@dataclass
class _Window:
    """What the hooks saw of one optim wrapper's current accumulation window."""
    wrapper: OptimWrapper
    check_grads: bool
    loss_terms: Dict[str, torch.Tensor] = field(default_factory=dict)
    batches: List[Batch] = field(default_factory=list)
    step_called: bool = False
    skipped: Optional[SkippedStep] = None

    def close(self, trigger: Optional[Cause], params: Sequence[torch.Tensor] = ()) -> None:
        """Ends the window; records it as skipped when ``trigger`` is set."""
        if trigger is not None:
            self.skipped = SkippedStep(trigger, self.loss_terms, list(params), self.batches)
        self.loss_terms, self.batches = {}, []


def reduced_loss_terms(losses: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The loss terms of a model's loss dict reduced as
    ``BaseModel.parse_losses`` does before summing them (a tensor's mean, the
    sum of a list's means): name -> 0-d float tensor. Keys without ``'loss'``
    (accuracies...) are not summed there and are left out here."""
    terms = {}
    for name, value in losses.items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            terms[name] = value.detach().mean().float()
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, torch.Tensor) for v in value):
            terms[name] = sum(v.detach().mean().float() for v in value)
    return terms


def nonfinite_terms(terms: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The non-finite entries of ``reduced_loss_terms``; one sync when all are
    finite."""
    if not terms or bool(torch.isfinite(torch.stack(list(terms.values()))).all()):
        return {}
    return {name: value for name, value in terms.items() if not is_finite(value)}


def agree(trigger: Optional[Cause]) -> Optional[Cause]:
    """In a distributed run a step held back on one rank is held back on all
    (MAX all-reduce of a flag); ranks that saw nothing get ``OTHER_RANK``.
    Outside one it returns ``trigger``."""
    flag = torch.tensor([0.0 if trigger is None else 1.0])
    all_reduce(flag, op='max')  # a no-op in a single process
    if trigger is None and flag.item() > 0:
        return Cause.OTHER_RANK
    return trigger


def _params(optimizer: Optimizer) -> List[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group['params']]


# The guard registered on each model: a run that raised never reached
# ``remove``, and its hooks must not hold back the steps of the next one.
_ACTIVE: 'WeakKeyDictionary[nn.Module, NonFiniteGuard]' = WeakKeyDictionary()


class NonFiniteGuard:
    """Registers the hooks described in the module docstring.

    Args:
        model: The bare model (not its DDP wrapper) whose forward returns the
            loss dict in training mode.
        wrappers: The optim wrappers whose optimizers step that model.
        check_grads: Also hold back steps with non-finite gradients of finite
            losses (not under ``AmpOptimWrapper``, see the module docstring).
    """

    def __init__(self, model: nn.Module, wrappers: Sequence[OptimWrapper],
                 check_grads: bool = True) -> None:
        previous = _ACTIVE.get(model)
        if previous is not None:
            previous.remove()
        self._windows = [_Window(w, check_grads and not isinstance(w, AmpOptimWrapper))
                         for w in wrappers]
        self._handles = [model.register_forward_hook(self._after_forward, with_kwargs=True)]
        self._handles += [w.wrapper.optimizer.register_step_pre_hook(
            partial(self._before_step, w)) for w in self._windows]
        _ACTIVE[model] = self

    def remove(self) -> None:
        """Removes every hook; the model and optimizers are as before."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for model, guard in list(_ACTIVE.items()):
            if guard is self:
                del _ACTIVE[model]

    @property
    def loss_pending(self) -> bool:
        """A non-finite loss was seen in a window whose step is still to come
        (gradient accumulation); that step will be held back."""
        return any(w.loss_terms for w in self._windows)

    def _after_forward(self, module: nn.Module, args: tuple, kwargs: dict,
                       output: Any) -> None:
        if not module.training or not isinstance(output, dict):
            return
        terms = reduced_loss_terms(output)
        if not terms:
            return
        bad = nonfinite_terms(terms)
        batch = (kwargs.get('inputs', args[0] if args else None),
                 kwargs.get('data_samples', args[1] if len(args) > 1 else None))
        for window in self._windows:
            window.batches.append(batch)
            for name, value in bad.items():
                window.loss_terms.setdefault(name, value)

    def _before_step(self, window: _Window, optimizer: Optimizer, args: tuple,
                     kwargs: dict) -> None:
        window.step_called = True
        params: List[torch.Tensor] = []
        trigger = Cause.LOSS if window.loss_terms else None
        if trigger is None and window.check_grads:
            params = nonfinite_grads(_params(optimizer))
            trigger = Cause.GRADIENT if params else None
        trigger = agree(trigger)
        if trigger is not None:
            for param in _params(optimizer):
                param.grad = None
        window.close(trigger, params)

    def take_skipped(self) -> Optional[SkippedStep]:
        """The step held back in this training iteration, if any.

        Call once per iteration after ``train_step``, on every rank: a window
        that ended without a step call (the loss scaler skipped it) is settled
        here, by all-reduce in a distributed run. The loss scaler decides alike
        on every rank (the gradients are all-reduced), so all ranks get here
        together.
        """
        for window in self._windows:
            if window.wrapper.should_update() and not window.step_called:
                window.close(agree(Cause.LOSS if window.loss_terms else None))
            window.step_called = False
        skipped = [w.skipped for w in self._windows if w.skipped is not None]
        for window in self._windows:
            window.skipped = None
        return skipped[0] if skipped else None
