"""torchvision's SSD300 VGG16 as a reference on this CPU.

The package index's torchvision wheels are CUDA builds whose C++ ops do not
load beside the CPU torch; importing torchvision then fails on ``nms``'s fake
registration (``operator torchvision::nms does not exist``), and
``torchvision.ops.nms`` refuses to run. Its SSD needs no other op, so the
schema of ``torchvision::nms`` (and ``qnms``, also registered at import) is
defined here with a plain-torch greedy NMS behind it, before torchvision is
imported: the rule is the C++ kernel's (sort by score, keep a box unless it
overlaps a kept box by IoU > threshold).
"""
import importlib

import torch
from torch import Tensor

_LIB = None


def greedy_nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """LongTensor[K] of the kept boxes [N, 4] (x1, y1, x2, y2), by decreasing score."""
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    over = inter / (areas[:, None] + areas[None, :] - inter) > iou_threshold
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in range(len(boxes)):
        if not suppressed[i]:
            suppressed |= over[i] & (torch.arange(len(boxes)) > i)
    return order[~suppressed]


def import_torchvision():
    """torchvision, with ``torchvision::nms`` served by :func:`greedy_nms`
    when its compiled ops are missing."""
    global _LIB
    try:
        return importlib.import_module('torchvision')
    except RuntimeError as error:
        if 'torchvision::nms does not exist' not in str(error):
            raise
    if _LIB is None:
        _LIB = torch.library.Library('torchvision', 'DEF')
        _LIB.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        _LIB.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        _LIB.impl('nms', greedy_nms, 'CPU')
    import sys
    for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
        del sys.modules[name]  # the failed import left partial modules
    torchvision = importlib.import_module('torchvision')
    boxes_module = importlib.import_module('torchvision.ops.boxes')
    boxes_module._assert_has_ops = lambda: None  # nms's guard for the C++ ops
    return torchvision


def torchvision_ssd300(num_classes: int = 91, **kwargs):
    """torchvision's own ``ssd300_vgg16`` (no weights downloaded), in eval mode."""
    import_torchvision()
    detection = importlib.import_module('torchvision.models.detection')
    model = detection.ssd300_vgg16(weights=None, weights_backbone=None,
                                   num_classes=num_classes, **kwargs)
    return model.eval()
