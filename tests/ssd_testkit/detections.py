"""Comparing a source's detections with ssd_ext's (the zoo exactness tests).

Per-class NMS fixes each class's detections and their order by score; across
classes, equal scores may come in any order, and at a cap per image (the
source's last kept detection) equal scores of several classes may fall either
way. So both sides are compared above the source's lowest kept score, ordered
by class, then decreasing score: same labels, scores within 1e-4 relative,
boxes within 1e-3 px + 1e-4 relative.
"""
import torch
from torch import Tensor


def by_class_then_score(boxes: Tensor, scores: Tensor, labels: Tensor):
    """Detections ordered by class, then decreasing score."""
    order = sorted(range(len(scores)), key=lambda i: (int(labels[i]), -float(scores[i])))
    return boxes[order], scores[order], labels[order]


def assert_same_detections(ours, boxes: Tensor, scores: Tensor, labels: Tensor,
                           name: str) -> int:
    """``ours`` (InstanceData: bboxes, scores, labels) against the source's
    detections; returns how many were compared."""
    floor = float(scores.min()) * (1 + 1e-5)
    keep = scores > floor
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    top = ours.scores > floor
    assert int(top.sum()) == len(scores), \
        f'{name}: {int(top.sum())} detections above {floor:.6g}, the source {len(scores)}'
    got = by_class_then_score(ours.bboxes[top], ours.scores[top], ours.labels[top])
    want = by_class_then_score(boxes, scores, labels)
    assert torch.equal(got[2], want[2]), f'{name}: labels differ'
    torch.testing.assert_close(got[1], want[1], rtol=1e-4, atol=1e-6, msg=f'{name}: scores')
    torch.testing.assert_close(got[0], want[0], rtol=1e-4, atol=1e-3, msg=f'{name}: boxes')
    return len(scores)
