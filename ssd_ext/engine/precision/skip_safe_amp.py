"""GPU mixed precision whose skipped steps cannot corrupt the weights.

A dynamic loss scaler skips every step whose fp16 gradients overflowed; the
first steps of a run are often skipped while the scale settles (65536 at the
start). PyTorch's fused SGD (``fused=True``) allocates its momentum buffers with
``torch.empty_like`` on its first step and hands the scaler's ``found_inf`` to a
kernel that returns without writing them when the step is skipped, so the next
step adds whatever that memory held to the weights (torch 2.x). The unfused
implementations never reach the kernel on a skipped step and so are safe.

``zero_fill_momentum`` gives the parameters of fused SGD groups a zero momentum
buffer before each step that lacks one. With ``dampening=0`` (the only value it
accepts there) that is exactly SGD's first-step rule ``buf = grad``:
``0 * momentum + grad`` is ``grad`` bit for bit, so the update equals the
unfused one whether or not steps were skipped before. Adam and AdamW create
zeroed state and undo their step count on a skipped step themselves.
"""
from typing import Any

import torch
from mmengine.optim import AmpOptimWrapper
from torch.optim import Optimizer

from ssd_ext.registry import OPTIM_WRAPPERS


def needs_zero_fill(optimizer: Optimizer, group: dict) -> bool:
    """Whether a skipped step of this param group leaves uninitialised momentum
    buffers (SGD with ``fused=True`` and momentum)."""
    return (isinstance(optimizer, torch.optim.SGD) and bool(group.get('fused'))
            and bool(group['momentum']))


def check_zero_fill_supported(optimizer: Optimizer) -> None:
    """Raises ``ValueError`` for fused SGD groups where a zero buffer would change
    the first update (``dampening != 0``: SGD's first step skips the dampening)."""
    for i, group in enumerate(optimizer.param_groups):
        if needs_zero_fill(optimizer, group) and group['dampening']:
            raise ValueError(
                f'optimizer param group {i}: SGD with dampening={group["dampening"]} '
                'and fused=True cannot be trained with a loss scaler here (its first '
                'update differs from a zero-initialised momentum buffer); use '
                'dampening=0 or fused=False')


def zero_fill_momentum(optimizer: Optimizer, *_: Any) -> None:
    """Step pre-hook: zero momentum buffers for the parameters of fused SGD groups
    that will be updated (have a gradient) and have none yet."""
    for group in optimizer.param_groups:
        if not needs_zero_fill(optimizer, group):
            continue
        for p in group['params']:
            if p.grad is not None and 'momentum_buffer' not in optimizer.state[p]:
                # preserve_format: channels_last weights get channels_last buffers,
                # as the fused kernel's own allocation would.
                optimizer.state[p]['momentum_buffer'] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)


@OPTIM_WRAPPERS.register_module()
class SkipSafeAmpOptimWrapper(AmpOptimWrapper):
    """MMEngine's ``AmpOptimWrapper`` (CUDA AMP, dynamic loss scaling) with the
    optimizer's state zero-filled before each step, so a step the loss scaler
    skips leaves nothing uninitialised behind. ``--amp`` on a GPU selects it.
    The hook is registered only where it is needed (an SGD with a fused,
    momentum group); it survives ``load_state_dict``, which keeps the buffers
    it loads."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_zero_fill_supported(self.optimizer)
        if any(needs_zero_fill(self.optimizer, g) for g in self.optimizer.param_groups):
            self.optimizer.register_step_pre_hook(zero_fill_momentum)
