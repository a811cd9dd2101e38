"""``ssd_ext/deployment/onnx_nms.py``: the eager semantics of the
``NonMaxSuppression`` op (what tracing runs) and the fixed-shape per-class NMS
built on it, against mmcv's ``batched_nms``."""
import torch
from mmcv.ops import batched_nms

from ssd_ext.deployment import NonMaxSuppression, fixed_shape_nms

# Box 1 overlaps box 0 (IoU 0.81); box 3 is box 0 again, in another class.
BOXES = torch.tensor([[[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.],
                       [0., 0., 10., 10.]]])


def run_op(scores, max_output=10, iou=0.5, score_thr=-0.5):
    return NonMaxSuppression.apply(BOXES, scores, torch.tensor([max_output]),
                                   torch.tensor([iou]), torch.tensor([score_thr]))


def test_op_suppresses_per_class_and_caps():
    scores = torch.tensor([[[0.9, 0.8, 0.7, -1.0], [-1.0, -1.0, -1.0, 0.6]]])
    assert run_op(scores).tolist() == [[0, 0, 0], [0, 0, 2], [0, 1, 3]]
    assert run_op(scores, max_output=1).tolist() == [[0, 0, 0], [0, 1, 3]]
    assert run_op(scores, score_thr=0.75).tolist() == [[0, 0, 0]]
    assert run_op(torch.full((1, 2, 4), -1.0)).shape == (0, 3)


def test_fixed_shape_nms_masks_and_pads():
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6]])
    labels = torch.tensor([[0, 0, 0, 1]])
    valid = torch.ones(1, 4, dtype=torch.bool)
    dets, det_labels = fixed_shape_nms(BOXES, scores, labels, valid, 2, 4, 0.5)
    assert dets.shape == (1, 4, 5) and det_labels.tolist() == [[0, 0, 1, -1]]
    torch.testing.assert_close(dets[0, :3, 4], torch.tensor([0.9, 0.7, 0.6]))
    torch.testing.assert_close(dets[0, :3, :4], BOXES[0, [0, 2, 3]])
    assert (dets[0, 3] == 0).all()
    # An invalid candidate neither survives nor suppresses others.
    valid[0, 0] = False
    dets, det_labels = fixed_shape_nms(BOXES, scores, labels, valid, 2, 4, 0.5)
    assert det_labels.tolist() == [[0, 0, 1, -1]]
    torch.testing.assert_close(dets[0, :3, 4], torch.tensor([0.8, 0.7, 0.6]))


def test_fixed_shape_nms_matches_mmcv_batched_nms():
    torch.manual_seed(0)
    batch, k, num_classes, max_per_img = 3, 200, 4, 50
    xy = torch.rand(batch, k, 2) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(batch, k, 2) * 40], -1)
    scores = torch.rand(batch, k)
    labels = torch.randint(0, num_classes, (batch, k))
    valid = scores > 0.1
    dets, det_labels = fixed_shape_nms(boxes, scores, labels, valid, num_classes,
                                       max_per_img, 0.45)
    for b in range(batch):
        v = valid[b]
        ref, keep = batched_nms(boxes[b, v], scores[b, v], labels[b, v],
                                dict(type='nms', iou_threshold=0.45))
        n = min(len(keep), max_per_img)
        torch.testing.assert_close(dets[b, :n], ref[:n])
        assert det_labels[b, :n].tolist() == labels[b, v][keep[:n]].tolist()
        assert (det_labels[b, n:] == -1).all() and (dets[b, n:] == 0).all()
