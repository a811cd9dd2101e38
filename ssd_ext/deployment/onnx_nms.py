"""Per-class NMS as ONNX's own ``NonMaxSuppression`` op, with fixed-shape output.

The op is emitted from a custom ``torch.autograd.Function``'s ``symbolic``
through torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``);
torch 2.13's dynamo exporter needs ``onnxscript``, which this project does not
depend on (docs/upstream.md).
"""
from typing import Tuple

import torch
from mmcv.ops import nms
from torch import Tensor

# Scores of masked-out candidates: below any probability, so the op's score
# threshold (between the two) drops them.
MASKED = -1.0
MASK_THRESHOLD = -0.5


class NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression``: ``boxes`` [B, N, 4] (corners), ``scores``
    [B, C, N]; returns int64 [S, 3] rows ``(batch, class, box)``, per batch and
    class in decreasing score order, at most ``max_output`` per class, only
    boxes with score above ``score_threshold``.

    Eager ``forward`` (used while tracing) runs mmcv's NMS per batch and class;
    the exported graph holds the ONNX op.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_output: Tensor,
                iou_threshold: Tensor, score_threshold: Tensor) -> Tensor:
        max_out = int(max_output)
        iou, thr = float(iou_threshold), float(score_threshold)
        rows = []
        for b in range(boxes.shape[0]):
            for c in range(scores.shape[1]):
                cand = (scores[b, c] > thr).nonzero().squeeze(1)
                if cand.numel() == 0:
                    continue
                _, keep = nms(boxes[b, cand], scores[b, c, cand], iou)
                keep = cand[keep[:max_out]]
                rows.append(torch.stack([torch.full_like(keep, b),
                                         torch.full_like(keep, c), keep], 1))
        if not rows:
            return boxes.new_zeros((0, 3), dtype=torch.long)
        return torch.cat(rows)

    @staticmethod
    def symbolic(g, boxes, scores, max_output, iou_threshold, score_threshold):
        return g.op('NonMaxSuppression', boxes, scores, max_output, iou_threshold,
                    score_threshold, center_point_box_i=0)


def fixed_shape_nms(boxes: Tensor, scores: Tensor, labels: Tensor, valid: Tensor,
                    num_classes: int, max_per_img: int, iou_threshold: float
                    ) -> Tuple[Tensor, Tensor]:
    """Per-class NMS of each image's candidates, padded to ``max_per_img``.

    Args:
        boxes: Tensor[B, k, 4] candidate boxes (corners).
        scores: Tensor[B, k] their scores, in [0, 1].
        labels: Tensor[B, k] their classes, float32 for an export (see
            :mod:`ssd_ext.deployment.exportable`; integers are converted).
        valid: BoolTensor[B, k], False for candidates to ignore.
        max_per_img: Detections kept per image, at most ``k``.

    Returns:
        ``dets`` Tensor[B, max_per_img, 5] rows ``(x1, y1, x2, y2, score)`` by
        decreasing score, and ``labels`` LongTensor[B, max_per_img]; padding
        rows are zero in ``dets`` and -1 in ``labels``.
    """
    k = scores.shape[1]
    labels = labels.float()
    cand = torch.where(valid, scores, torch.full_like(scores, MASKED))
    # [B, C, k]: each candidate scores only in its own class.
    classes = torch.arange(num_classes, dtype=torch.float32).reshape(1, -1, 1)
    class_scores = torch.where(labels.unsqueeze(1) == classes, cand.unsqueeze(1),
                               torch.full_like(cand.unsqueeze(1), MASKED))
    selected = NonMaxSuppression.apply(
        boxes, class_scores, torch.tensor([max_per_img], dtype=torch.long),
        torch.tensor([iou_threshold], dtype=torch.float32),
        torch.tensor([MASK_THRESHOLD], dtype=torch.float32))

    # Back to [B, k] scores with everything NMS dropped masked, then the best
    # max_per_img of each image across classes.
    flat = selected[:, 0] * k + selected[:, 2]
    kept = torch.full_like(cand, MASKED).flatten().scatter(
        0, flat, cand.flatten().gather(0, flat)).reshape(cand.shape)
    det_scores, order = kept.topk(max_per_img, dim=1)
    det_boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
    det_labels = labels.gather(1, order)
    found = det_scores > MASK_THRESHOLD
    dets = torch.cat([det_boxes, det_scores.unsqueeze(-1)], -1)
    dets = torch.where(found.unsqueeze(-1), dets, torch.zeros_like(dets))
    det_labels = torch.where(found, det_labels, torch.full_like(det_labels, -1))
    return dets, det_labels.long()
