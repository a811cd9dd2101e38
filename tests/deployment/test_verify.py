"""``ssd_ext/deployment/verify.py``: matching of two detection sets and the
ONNX outputs' unpadding and rescaling."""
import numpy as np
from mmdet.structures import DetDataSample

from ssd_ext.deployment import compare_detections, onnx_detections


def test_compare_detections_flags_mismatches():
    ref = dict(bboxes=np.array([[10, 10, 50, 50], [60, 60, 90, 90]], np.float32),
               scores=np.array([0.9, 0.5], np.float32), labels=np.array([0, 1]))
    same = {k: v.copy() for k, v in ref.items()}
    assert compare_detections(ref, same)['ok']
    for key, change in (('bboxes', lambda b: b + np.array([0, 0, 0.05, 0], np.float32)),
                        ('scores', lambda s: s - np.float32(1e-3)),
                        ('labels', lambda lab: lab[::-1].copy())):
        other = {k: v.copy() for k, v in ref.items()}
        other[key] = change(other[key])
        assert not compare_detections(ref, other)['ok'], key
    # A detection missing on one side.
    fewer = {k: v[:1] for k, v in ref.items()}
    assert not compare_detections(ref, fewer)['ok']
    assert not compare_detections(fewer, ref)['ok']


def test_onnx_detections_drops_padding_and_rescales():
    dets = np.zeros((2, 3, 5), np.float32)
    dets[0, 0] = [10, 20, 30, 40, 0.9]
    dets[0, 1] = [0, 0, 8, 4, 0.4]
    labels = np.array([[2, 0, -1], [-1, -1, -1]])
    samples = [DetDataSample(metainfo=dict(scale_factor=(2.0, 4.0))),
               DetDataSample(metainfo=dict(scale_factor=(1.0, 1.0)))]
    first, second = onnx_detections(dets, labels, samples)
    np.testing.assert_array_equal(first['bboxes'], [[5, 5, 15, 10], [0, 0, 4, 1]])
    np.testing.assert_array_equal(first['scores'], np.float32([0.9, 0.4]))
    np.testing.assert_array_equal(first['labels'], [2, 0])
    assert second['bboxes'].shape == (0, 4) and len(second['labels']) == 0
