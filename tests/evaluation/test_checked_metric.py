"""``ssd_ext/evaluation/checked_metric.py``: the ground truth goes through the
dataset's checks (the injected COCO copy of ``tests/ssd_testkit/faulty_coco.py``)."""
import json

import pytest

from ssd_ext.data import DataCheckError

from ssd_testkit.faulty_coco import (BAD_BOXES, PARTLY_OUTSIDE, bad_copy,  # noqa: F401
                                     build)  # bad_copy: a fixture


def test_checked_metric_leaves_bad_ground_truth_out(bad_copy):
    from mmdet.registry import METRICS
    metric = METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file)))
    assert sum(metric.report.error_counts().values()) == len(BAD_BOXES)
    gt = metric._coco_api
    assert not {a for a, *_ in BAD_BOXES} & set(gt.anns)
    assert PARTLY_OUTSIDE[0] in gt.anns and all('area' in a for a in gt.anns.values())
    with pytest.raises(DataCheckError) as info:
        METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file),
                           on_bad_annotation='error'))
    assert 'annotation id 900006' in str(info.value)
    bad_copy.ann_file.write_text('not json')
    with pytest.raises(DataCheckError, match=f'{bad_copy.ann_file} is not valid JSON'):
        METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file)))


def test_metric_and_dataset_reject_the_same_annotations(bad_copy):
    from mmdet.registry import METRICS
    metric = METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file)))
    dataset = build(bad_copy.cfg())
    assert metric.report.error_counts() == dataset.report.error_counts()
    assert [f.where for f in metric.report.errors] == [f.where for f in dataset.report.errors]
    # The metric evaluates the file's boxes: the partly outside one is not clipped.
    ann_id, bbox, _ = PARTLY_OUTSIDE
    assert metric._coco_api.anns[ann_id]['bbox'] == bbox


def test_metric_without_ann_file_and_policy_values():
    from mmdet.registry import METRICS
    metric = METRICS.build(dict(type='CheckedCocoMetric', backend_args=dict(backend='local')))
    assert metric.report is None and metric.backend_args == dict(backend='local')
    with pytest.raises(ValueError, match=r"on_bad_annotation='drop' is not allowed"):
        METRICS.build(dict(type='CheckedCocoMetric', on_bad_annotation='drop'))


def test_notes_are_logged_without_errors(tmp_path, monkeypatch):
    """A file whose only finding is a box partly outside its image: nothing is
    left out, and the count is still said (at INFO), not only kept in the report."""
    import ssd_ext.evaluation.checked_metric as module
    from mmdet.registry import METRICS
    logged = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, logger=None, level=20: logged.append((level, msg)))
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.jpg', width=100, height=100)],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[90, 90, 20, 20])],
        categories=[dict(id=1, name='cell')])))
    metric = METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(ann_file)))
    assert not metric.report.errors and sum(metric.report.notes.values()) == 1
    [(level, message)] = logged
    assert level == 20 and str(ann_file) in message
    assert f'notes: 1 {next(iter(metric.report.notes))}' in message
