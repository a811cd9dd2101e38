"""``ClasswiseVOCMetric``: VOCMetric's numbers plus each class's AP."""
import pytest
import torch
from mmdet.evaluation import VOCMetric

from ssd_ext.evaluation import ClasswiseVOCMetric
from ssd_ext.registry import METRICS

CLASSES = ('cell', 'blob', 'dot')


def sample(gt_boxes, gt_labels, boxes, scores, labels) -> dict:
    """One image as VOCMetric.process reads it (ground truth and predictions)."""
    def instances(b, **extra):
        return dict(bboxes=torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                    **{k: torch.tensor(v) for k, v in extra.items()})
    return dict(gt_instances=instances(gt_boxes, labels=gt_labels),
                ignored_instances=instances([], labels=[]),
                pred_instances=instances(boxes, scores=scores, labels=labels))


# 'cell' found exactly in both images, 'blob' missed (a false positive elsewhere),
# 'dot' has no ground truth but one detection.
SAMPLES = [
    sample([[10, 10, 50, 50], [60, 60, 90, 90]], [0, 1],
           [[10, 10, 50, 50], [0, 0, 5, 5], [70, 0, 80, 8]], [0.9, 0.8, 0.3], [0, 1, 2]),
    sample([[20, 20, 40, 40]], [0], [[20, 20, 40, 40], [20, 20, 40, 40]], [0.7, 0.6], [0, 1]),
]


def evaluate(metric, samples=SAMPLES) -> dict:
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


@pytest.mark.parametrize('eval_mode', ['11points', 'area'])
def test_per_class_ap_beside_vocmetric_numbers(eval_mode):
    ours = evaluate(METRICS.build(dict(type='ClasswiseVOCMetric', eval_mode=eval_mode)))
    ref = evaluate(VOCMetric(eval_mode=eval_mode))
    assert list(ours)[:2] == ['mAP', 'AP50']
    assert {k: ours[k] for k in ref} == pytest.approx(dict(ref))
    assert ours['AP50_cell'] == pytest.approx(1.0)
    assert ours['AP50_blob'] == 0.0
    assert ours['AP50_dot'] == -1.0  # no ground truth: left out of the mean, as VOC does
    assert ours['mAP'] == pytest.approx(0.5)
    assert all(type(v) is float for v in ours.values())


def test_several_thresholds_and_the_mean():
    # A 'cell' box shifted so that its IoU with the ground truth is 0.64: a match
    # at 0.5, a false positive (and a missed box) at 0.75.
    shifted = [sample([[0, 0, 99, 99]], [0], [[20, 0, 119, 99]], [0.9], [0])]
    ours = evaluate(ClasswiseVOCMetric(iou_thrs=[0.5, 0.75]), shifted)
    assert ours['AP50_cell'] == pytest.approx(1.0) and ours['AP75_cell'] == 0.0
    assert ours['AP50'] == 1.0 and ours['AP75'] == 0.0
    assert ours['mAP'] == pytest.approx(0.5)


def test_scale_ranges_are_refused_at_build():
    with pytest.raises(ValueError, match='scale_ranges=.*not supported'):
        ClasswiseVOCMetric(scale_ranges=[(0, 32)])

