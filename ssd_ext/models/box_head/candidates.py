"""The head's outputs as scored candidate boxes, before NMS.

One implementation for both consumers: ``MultiBoxHead.predict_by_feat``
(which then drops candidates by boolean indexing, dynamic shapes) and the ONNX
export wrapper (which masks them instead, fixed shapes). Every function here
keeps its input's leading dimensions, so both can call it.
"""
import itertools
from typing import NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ssd_ext.models.box_head.box_coder import BoxCoder


class Candidates(NamedTuple):
    """The best (prior, class) pairs of each image, by decreasing score; all
    ``[B, k]``."""
    scores: Tensor     # float32 softmax probability of ``labels``
    labels: Tensor     # int64 class index, background excluded
    prior_idx: Tensor  # int64 index into the priors (and the flattened deltas)


def class_scores(logits: Tensor, num_classes: int) -> Tensor:
    """float32 [B, P, C] softmax probabilities of the C classes (the softmax
    runs over every logit; background and unused logits are then dropped).
    float32: half-precision scores tie too often for a stable top-k."""
    return F.softmax(logits.float(), dim=-1)[..., :num_classes]


def _top_flat(scores: Tensor, nms_pre: int) -> Tuple[Tensor, Tensor]:
    """The ``nms_pre`` (all if < 0) best of ``scores`` [B, P, C] over its
    (prior, class) pairs: values [B, k] and pair indices ``prior * C + class``."""
    flat = scores.reshape(scores.shape[0], -1)
    k = flat.shape[1] if nms_pre < 0 else min(nms_pre, flat.shape[1])
    return flat.topk(k, dim=1)


def ranked_pairs(logits: Tensor, num_classes: int, nms_pre: int) -> Tuple[Tensor, Tensor]:
    """The ``nms_pre`` (all if < 0) highest class scores of each image, over
    (prior, class) pairs, not priors, so that one prior can be a candidate of
    several classes (as in per-class NMS).

    Args:
        logits: Tensor[B, P, L] class logits, L >= C + 1: the C classes, then
            background, then logits that join the softmax but are no class.

    Returns:
        ``scores`` float32 [B, k] by decreasing value and ``pairs`` int64
        [B, k], each ``prior * C + class``; ``k = min(nms_pre, P * C)``.
    """
    return _top_flat(class_scores(logits, num_classes), nms_pre)


# What ``nms_pre`` counts (``test_cfg.nms_pre_per``): each image's (prior,
# class) pairs (ssd_ext), each level's (MMDetection >= 2.14) or each class's
# priors (torchvision, whose ``topk_candidates`` is per class).
NMS_PRE_SCOPES = ('image', 'level', 'class')


def top_candidates(logits: Tensor, num_classes: int, nms_pre: int, per: str = 'image',
                   level_sizes: Optional[Sequence[int]] = None) -> Candidates:
    """The ``nms_pre`` (all if < 0) highest class scores of each image, or of
    each level or class of it (``per``), by decreasing score.

    Args:
        logits: Tensor[B, P, L] class logits, L >= C + 1: the C classes, then
            background, then logits that join the softmax but are no class.
        per: ``'image'``, ``'level'`` or ``'class'`` (``NMS_PRE_SCOPES``).
        level_sizes: Priors of each level, summing to P; needed for ``'level'``.

    Returns:
        :class:`Candidates` ``[B, k]``. The top-k runs over (prior, class)
        pairs, not priors, so one prior can be a candidate of several classes
        (as in per-class NMS): ``k = min(nms_pre, P * C)`` per image,
        ``sum_l min(nms_pre, P_l * C)`` per level, ``C * min(nms_pre, P)`` per
        class.
    """
    scores = class_scores(logits, num_classes)
    if per == 'image':
        return _top_pairs(scores, nms_pre, 0)
    if per == 'level':
        if level_sizes is None or sum(level_sizes) != scores.shape[1]:
            raise ValueError(f"nms_pre_per='level' needs level_sizes summing to "
                             f'{scores.shape[1]} priors, got {level_sizes!r}')
        starts = [0, *itertools.accumulate(level_sizes)][:-1]
        parts = [_top_pairs(level, nms_pre, start) for level, start in
                 zip(scores.split(list(level_sizes), dim=1), starts)]
        return _by_score(*(torch.cat(field, 1) for field in zip(*parts)))
    if per == 'class':
        k = scores.shape[1] if nms_pre < 0 else min(nms_pre, scores.shape[1])
        top_scores, prior_idx = scores.topk(k, dim=1)  # [B, k, C]
        labels = torch.arange(num_classes, device=scores.device).expand_as(prior_idx)
        flat = (t.reshape(scores.shape[0], -1) for t in (top_scores, labels, prior_idx))
        return _by_score(*flat)
    raise ValueError(f'nms_pre_per must be one of {NMS_PRE_SCOPES}, got {per!r}')


def _top_pairs(scores: Tensor, nms_pre: int, first_prior: int) -> Candidates:
    """Top ``nms_pre`` (prior, class) pairs of ``scores`` [B, P, C]; prior
    indices shifted by ``first_prior``."""
    num_classes = scores.shape[-1]
    top_scores, pairs = _top_flat(scores, nms_pre)
    return Candidates(top_scores, pairs % num_classes, pairs // num_classes + first_prior)


def _by_score(scores: Tensor, labels: Tensor, prior_idx: Tensor) -> Candidates:
    """Candidates [B, k] sorted by decreasing score (stable)."""
    order = scores.argsort(dim=1, descending=True, stable=True)
    return Candidates(*(t.gather(1, order) for t in (scores, labels, prior_idx)))


def decode_candidates(box_coder: BoxCoder, deltas: Tensor, priors: Tensor,
                      img_idx: Tensor, prior_idx: Tensor, max_shape: Tensor) -> Tensor:
    """Boxes ``[..., 4]`` of the candidates ``(img_idx, prior_idx)``, clipped.

    Args:
        deltas: Tensor[B, P, 4] box regressions.
        priors: Tensor[P, 4] priors, corners in input pixels.
        img_idx, prior_idx: int64 index tensors broadcastable to each other
            (e.g. ``[N]`` and ``[N]``, or ``[B, 1]`` and ``[B, k]``).
        max_shape: Tensor[..., 2] ``(h, w)`` to clip to, broadcastable to the
            indices' shape.
    """
    return box_coder.decode(deltas[img_idx, prior_idx].float(), priors[prior_idx],
                            max_shape)


def large_enough(boxes: Tensor, min_size: float) -> Tensor:
    """BoolTensor[...]: both sides of each ``[..., 4]`` box exceed ``min_size``."""
    wh = boxes[..., 2:] - boxes[..., :2]
    return (wh > min_size).all(-1)
