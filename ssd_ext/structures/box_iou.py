"""The one IoU of ssd_ext: ``inter / max(union, eps)`` of ``(x1, y1, x2, y2)``
boxes, ``eps`` 1e-6 as in MMDetection's ``bbox_overlaps``.

Written once for both array kinds its callers hold: the matcher's batched
tensors on the model's device, and the NumPy boxes of the crop augmentation,
the shapes dataset and the deployment's agreement. Each gets its own kind back,
computed in its own dtype, with no copy to or from a device.
"""
from typing import TypeVar

import numpy as np
import torch

Boxes = TypeVar('Boxes', np.ndarray, torch.Tensor)

UNION_EPS = 1e-6


def box_area(boxes: Boxes) -> Boxes:
    """Area [...] of boxes [..., 4] (negative for inverted boxes)."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: Boxes, boxes2: Boxes) -> Boxes:
    """IoU [..., N, M] of boxes1 [..., N, 4] with boxes2 [..., M, 4] (leading
    dimensions broadcast), both NumPy arrays or both tensors.

    Boxes that do not overlap (touching or apart) give 0; so does a pair whose
    union is below ``UNION_EPS`` (two empty boxes).
    """
    xp = torch if isinstance(boxes1, torch.Tensor) else np
    b1, b2 = boxes1[..., :, None, :], boxes2[..., None, :, :]
    wh = (xp.minimum(b1[..., 2:], b2[..., 2:]) - xp.maximum(b1[..., :2], b2[..., :2])).clip(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1)[..., :, None] + box_area(boxes2)[..., None, :] - inter
    return inter / union.clip(min=UNION_EPS)
