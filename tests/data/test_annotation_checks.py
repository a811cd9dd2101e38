"""The annotation checker shared by the COCO and VOC datasets and the metric:
one image's objects against its size and the classes."""
import math

import pytest

from ssd_ext.data import DataReport
from ssd_ext.data import annotation_checks as ac

LABELS = {'cat': 0, 'dog': 1}


def entry(xywh, category='cat', where='obj') -> ac.ObjectEntry:
    return ac.ObjectEntry(where=where, category=category, xywh=xywh, detail=f'box={xywh}')


@pytest.mark.parametrize('xywh, kind', [
    ((10, 10, 0, 5), ac.NON_POSITIVE_BOX), ((10, 10, 5, -1), ac.NON_POSITIVE_BOX),
    ((math.nan, 0, 5, 5), ac.NON_FINITE_BOX), ((0, 0, math.inf, 5), ac.NON_FINITE_BOX),
    ((40, 0, 5, 5), ac.OUTSIDE_BOX), ((-10, 0, 10, 5), ac.OUTSIDE_BOX)])
def test_bad_boxes_are_errors_naming_the_box(xywh, kind):
    check = ac.check_xywh(*xywh, 40, 30, detail='bbox=[...]')
    assert check.problem == kind and check.box is None and 'bbox=[...]' in check.detail


def test_partly_outside_is_clipped_or_kept_and_noted():
    clipped = ac.check_xywh(30, -5, 20, 10, 40, 30)
    assert clipped.box == [30.0, 0.0, 40.0, 5.0] and clipped.note == ac.PARTLY_OUTSIDE_BOX
    kept = ac.check_xywh(30, -5, 20, 10, 40, 30, clip=False)
    assert kept.box == [30.0, -5.0, 50.0, 5.0] and kept.note == ac.PARTLY_OUTSIDE_KEPT


def test_tiny_boxes_are_dropped_by_their_visible_part():
    assert ac.check_xywh(1, 1, 0.5, 10, 40, 30).note == ac.TINY_BOX
    assert ac.check_xywh(39.5, 1, 10, 10, 40, 30).box is None  # 0.5 px inside
    assert ac.check_xywh(1, 1, 0.5, 10, 40, 30, min_size=0.0).box == [1.0, 1.0, 1.5, 11.0]


def test_check_objects_keeps_usable_objects_and_records_the_rest():
    report = DataReport('f')
    objects = [entry((1, 1, 5, 5), where='a'), entry((1, 1, 0, 5), where='b'),
               entry((35, 1, 10, 5), 'dog', where='c'), entry((1, 1, 5, 5), 'cow', where='d'),
               entry((1, 1, 0.2, 5), where='e')]
    kept = ac.check_objects(objects, 40, 30, report, LABELS)
    assert [(k.entry.where, k.box, k.label) for k in kept] == [
        ('a', [1.0, 1.0, 6.0, 6.0], 0), ('c', [35.0, 1.0, 40.0, 6.0], 1)]
    assert [str(f) for f in report.errors] == [
        'b: zero or negative box size (box=(1, 1, 0, 5) (w=0, h=5))']
    assert report.notes == {ac.PARTLY_OUTSIDE_BOX: 1, ac.UNLISTED_CATEGORY: 1, ac.TINY_BOX: 1}
    assert report.unlisted == {'cow': 1}
    assert report.note_examples[ac.UNLISTED_CATEGORY] == ["d: category 'cow'"]


def test_check_objects_without_classes_keeps_every_class():
    report = DataReport('f')
    kept = ac.check_objects([entry((1, 1, 5, 5), 'cow')], 40, 30, report)
    assert [(k.entry.category, k.label) for k in kept] == [('cow', None)]
    assert not report.unlisted and not report.errors
