"""The head's outputs as scored candidate boxes, before NMS.

One implementation for both consumers: ``MultiBoxHead.predict_by_feat``
(which then drops candidates by boolean indexing, dynamic shapes) and the ONNX
export wrapper (which masks them instead, fixed shapes). Every function here
keeps its input's leading dimensions, so both can call it.
"""
from typing import NamedTuple, Tuple

import torch.nn.functional as F
from torch import Tensor

from ssd_ext.models.box_head.box_coder import BoxCoder


class Candidates(NamedTuple):
    """The best (prior, class) pairs of each image, by decreasing score; all
    ``[B, k]``."""
    scores: Tensor     # float32 softmax probability of ``labels``
    labels: Tensor     # int64 class index, background excluded
    prior_idx: Tensor  # int64 index into the priors (and the flattened deltas)


def ranked_pairs(logits: Tensor, num_classes: int, nms_pre: int) -> Tuple[Tensor, Tensor]:
    """The ``nms_pre`` (all if < 0) highest class scores of each image, over
    (prior, class) pairs, not priors, so that one prior can be a candidate of
    several classes (as in per-class NMS).

    Args:
        logits: Tensor[B, P, C + 1] class logits, background last.

    Returns:
        ``scores`` float32 [B, k] by decreasing value and ``pairs`` int64
        [B, k], each ``prior * C + class``; ``k = min(nms_pre, P * C)``.
    """
    # Softmax in float32: half-precision scores tie too often for a stable top-k.
    scores = F.softmax(logits.float(), dim=-1)[..., :num_classes]
    flat = scores.reshape(logits.shape[0], -1)
    k = flat.shape[1] if nms_pre < 0 else min(nms_pre, flat.shape[1])
    return flat.topk(k, dim=1)


def top_candidates(logits: Tensor, num_classes: int, nms_pre: int) -> Candidates:
    """:func:`ranked_pairs` split into labels and prior indices."""
    scores, pairs = ranked_pairs(logits, num_classes, nms_pre)
    return Candidates(scores, pairs % num_classes, pairs // num_classes)


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
