"""``ssd_ext/deployment/agreement.py``: matching a reduced-precision engine's
detections to PyTorch's."""
import numpy as np
import pytest

from ssd_ext.deployment.agreement import image_agreement, summarise


def dets(boxes, scores, labels):
    return dict(bboxes=np.array(boxes, np.float32).reshape(-1, 4),
                scores=np.array(scores, np.float32), labels=np.array(labels, np.int64))


def test_matches_same_label_by_iou_and_measures_differences():
    ref = dets([[0, 0, 10, 10], [50, 50, 70, 70], [100, 100, 120, 120]],
               [0.9, 0.8, 0.1], [0, 1, 0])
    other = dets([[1, 0, 11, 10], [50, 50, 70, 70]], [0.85, 0.7], [0, 2])
    r = image_agreement(ref, other, score_thr=0.3)
    # The 0.1 detection is below the threshold; the second has another label.
    assert r['reference'] == 2 and r['matched'] == 1
    assert r['max_box_diff'] == pytest.approx(1.0)
    assert r['max_score_diff'] == pytest.approx(0.05, abs=1e-6)
    assert r['iou_sum'] == pytest.approx(90 / 110, rel=1e-6)


def test_each_engine_detection_matches_once():
    ref = dets([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])
    other = dets([[0, 0, 10, 10]], [0.9], [0])
    assert image_agreement(ref, other)['matched'] == 1


def test_low_iou_is_no_match():
    ref = dets([[0, 0, 10, 10]], [0.9], [0])
    other = dets([[6, 0, 16, 10]], [0.9], [0])  # IoU 4/16
    assert image_agreement(ref, other)['matched'] == 0


def test_summary_over_images():
    a = image_agreement(dets([[0, 0, 10, 10]], [0.9], [0]), dets([[0, 0, 10, 12]], [0.5], [0]))
    b = image_agreement(dets([[0, 0, 10, 10]], [0.9], [1]), dets([], [], []))
    s = summarise([a, b])
    assert (s['reference'], s['matched'], s['recall']) == (2, 1, 0.5)
    assert s['mean_box_diff'] == pytest.approx(2.0)
    assert s['max_score_diff'] == pytest.approx(0.4, abs=1e-6)
    assert summarise([])['recall'] == 1.0  # nothing to find: nothing missed
