"""Why a step went non-finite, and what to do about it.

The guard sees *where* NaN/inf appeared first (the loss or the gradients); that
is not always where it came from. Once a step has been held back, the weights,
the optimizer state and the batch are scanned (only then: an element-wise scan
of a large model takes about a second) and :func:`diagnose` names the likely
cause, most specific first:

1. ``optimizer state``: weights or optimizer state (momentum buffers, Adam
   moments) already non-finite before this step. The guard lets no non-finite
   gradient through, so an earlier update wrote them from finite gradients (or
   they were loaded so); a lower lr does not help.
2. ``data``: non-finite inputs, or non-finite or degenerate (``x2 <= x1``,
   ``y2 <= y1``) ground-truth boxes in the batch; SSD encodes a box's size with
   a log, so a zero-width box gives an infinite regression target.
3. ``loss``: a loss term non-finite from finite weights and data.
4. ``gradient``: finite loss terms, non-finite gradients.
5. ``another rank``: this rank's step was held back because another one's was.
"""
from dataclasses import dataclass
from enum import Enum
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn
from torch.optim import Optimizer

from ssd_ext.engine.nonfinite.tensors import is_finite, shorten
from ssd_ext.engine.speed.amp_optim_wrapper import SkipSafeAmpOptimWrapper, needs_zero_fill


class Cause(Enum):
    """Where a non-finite step came from (the value is used in messages)."""
    LOSS = 'loss'
    GRADIENT = 'gradient'
    OPTIMIZER_STATE = 'optimizer state'
    DATA = 'data'
    OTHER_RANK = 'another rank'


@dataclass(frozen=True)
class Findings:
    """What was seen at a held-back step.

    Attributes:
        trigger: What the guard saw: ``LOSS``, ``GRADIENT`` or ``OTHER_RANK``.
        bad_weights: Names of parameters holding NaN/inf.
        bad_state: Optimizer state entries holding NaN/inf
            (``'linear.weight.momentum_buffer'``).
        bad_data: Problems of the batch, each naming its image.
        unprotected_fused_sgd: The run steps a fused, momentum SGD under a loss
            scaler without zero-filled buffers (the known optimizer case).
    """
    trigger: Cause
    bad_weights: Sequence[str] = ()
    bad_state: Sequence[str] = ()
    bad_data: Sequence[str] = ()
    unprotected_fused_sgd: bool = False


@dataclass(frozen=True)
class Diagnosis:
    """The likely cause, what points to it (may be empty) and the advice."""
    cause: Cause
    evidence: str
    advice: str


FUSED_SGD_CASE = (
    "Known case: PyTorch's fused SGD (fused=True, with momentum) under a loss "
    'scaler (AmpOptimWrapper) leaves its momentum buffers uninitialised after a '
    "step the scaler skipped; train with optim_wrapper type='SkipSafeAmpOptimWrapper'"
    " (what --amp selects on a GPU) or SGD fused=False, then resume from the last "
    'good checkpoint.')
SKIP_HINT = "NonFiniteLossHook(action='skip') skips such steps."

ADVICE: Dict[Cause, str] = {
    Cause.OPTIMIZER_STATE: (
        'These were non-finite before this step, and the guard lets no non-finite '
        'gradient through, so an earlier optimizer update wrote them from finite '
        'gradients (or they were loaded so); a lower lr, a warmup or clip_grad '
        f'does not help. {FUSED_SGD_CASE}'),
    Cause.DATA: (
        'Fix or drop these samples: tools/analysis/check_dataset.py CONFIG lists '
        "every bad annotation and image, and the checked datasets' "
        f"on_bad_annotation='skip' drops bad boxes. {SKIP_HINT}"),
    Cause.LOSS: (
        'The weights and the batch are finite, so the loss computation produced '
        'it: look at how the terms named are computed (log or division near 0, '
        'exp overflow); if the loss grew over the previous iterations the run is '
        f'diverging: lower the lr or lengthen the warmup. {SKIP_HINT}'),
    Cause.GRADIENT: (
        'The loss is finite but its gradient is not: an operation with an '
        'unbounded derivative at the current values (sqrt or pow of 0, log near 0, '
        'division by ~0) in or after the layers named, or an overflow in the '
        'backward pass; clip_grad cannot repair a NaN gradient (and, when on, makes '
        'every gradient NaN once one is, so more layers may be named than caused '
        f'it). {SKIP_HINT}'),
    Cause.OTHER_RANK: 'Another rank held this step back; its log names the cause.',
}


def diagnose(findings: Findings) -> Diagnosis:
    """The most specific cause the findings support (see the module docstring
    for the order)."""
    if findings.bad_weights or findings.bad_state:
        parts = [f'weights {shorten(list(findings.bad_weights))}'] if findings.bad_weights else []
        if findings.bad_state:
            parts.append(f'optimizer state {shorten(list(findings.bad_state))}')
        advice = ADVICE[Cause.OPTIMIZER_STATE]
        if findings.unprotected_fused_sgd:
            advice = 'This run is the known case below. ' + advice
        return Diagnosis(Cause.OPTIMIZER_STATE, 'non-finite ' + ' and '.join(parts), advice)
    if findings.bad_data:
        return Diagnosis(Cause.DATA, '; '.join(findings.bad_data[:5]), ADVICE[Cause.DATA])
    return Diagnosis(findings.trigger, '', ADVICE[findings.trigger])


def unprotected_fused_sgd(wrapper: OptimWrapper) -> bool:
    """Whether ``wrapper`` is the known case: a loss scaler stepping a fused,
    momentum SGD without ``SkipSafeAmpOptimWrapper``'s zero-filled buffers."""
    return (isinstance(wrapper, AmpOptimWrapper)
            and not isinstance(wrapper, SkipSafeAmpOptimWrapper)
            and any(needs_zero_fill(wrapper.optimizer, group)
                    for group in wrapper.optimizer.param_groups))


def parameter_names(model: nn.Module) -> Dict[int, str]:
    """``id(param)`` -> the parameter's name in ``model``: optimizers and the
    guard hold parameters, messages name them."""
    return {id(p): n for n, p in model.named_parameters()}


def optimizer_state_items(optimizer: Optimizer, names: Dict[int, str]
                          ) -> Iterator[Tuple[str, Any]]:
    """``('PARAM.KEY', value)`` for every per-parameter state entry
    (``momentum_buffer``, ``exp_avg``...); ``names`` is :func:`parameter_names`
    of the model."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            yield f'{names.get(id(param), "?")}.{key}', value


def _sample_name(data_samples: Any, index: int) -> str:
    """The image path of sample ``index`` of a batch, else its position."""
    if data_samples is not None and index < len(data_samples):
        path = getattr(data_samples[index], 'metainfo', {}).get('img_path')
        if path:
            return str(path)
    return f'sample {index} of the batch'


def _box_problems(boxes: torch.Tensor) -> List[str]:
    """Problems of ground-truth boxes ``(K, 4)`` as ``x1, y1, x2, y2``."""
    problems = []
    for k, box in enumerate(boxes.detach().float().cpu()):
        x1, y1, x2, y2 = box.tolist()
        if not is_finite(box):
            problems.append(f'gt box {k} {[x1, y1, x2, y2]} is not finite')
        elif x2 <= x1 or y2 <= y1:
            problems.append(f'gt box {k} {[x1, y1, x2, y2]} has x2 <= x1 or y2 <= y1')
    return problems


def batch_problems(inputs: Any, data_samples: Any) -> List[str]:
    """Problems of one batch as the model's forward got it, each naming the
    image (``img_path``) it belongs to.

    Args:
        inputs: A float tensor ``(N, C, H, W)`` or a sequence of ``N`` tensors
            (the preprocessed images); anything else is not scanned.
        data_samples: ``N`` detection data samples (``metainfo['img_path']``,
            ``gt_instances.bboxes``: a ``(K, 4)`` tensor or box object), or None.
    """
    problems = []
    images = list(inputs) if isinstance(inputs, (torch.Tensor, list, tuple)) else []
    for i, image in enumerate(images):
        if isinstance(image, torch.Tensor) and image.is_floating_point() \
                and not is_finite(image):
            problems.append(f'{_sample_name(data_samples, i)}: non-finite input values')
    for i, sample in enumerate(data_samples or ()):
        gt = getattr(sample, 'gt_instances', None)
        boxes = getattr(gt, 'bboxes', None)
        boxes = getattr(boxes, 'tensor', boxes)  # mmdet box objects hold a tensor
        if isinstance(boxes, torch.Tensor) and boxes.numel():
            name = _sample_name(data_samples, i)
            problems += [f'{name}: {p}' for p in _box_problems(boxes.reshape(-1, 4))]
    return problems
