"""``CheckedCocoMetric``: ``CocoMetric`` whose ground truth is checked like the data.

``CocoMetric`` reads its ``ann_file`` with pycocotools, on its own: a bad
annotation that :class:`CheckedCocoDataset` skipped while loading would still
reach the evaluation, where a box that is not 4 numbers, or an annotation
without ``area``/``iscrowd``, crashes pycocotools at the first validation, hours
into a run. This metric loads the file through the same checks and policy:

``on_bad_annotation='skip'`` (or ``'error'``)
    The annotations :class:`CheckedCocoDataset` counts as bad (malformed or
    duplicate entries, unknown image or category ids, boxes not 4 numbers,
    NaN/inf, zero or negative size, entirely outside the image) are left out of
    the ground truth and counted in the log; ``'error'`` raises when the metric
    is built (before training), naming the file and the annotations. Missing
    ``area`` is filled with the box area and missing ``iscrowd`` with 0. Boxes
    partly outside the image are kept as they are (and counted), small ones
    too: the evaluation is pycocotools' on the file's own boxes.

A missing, empty or non-JSON file raises naming the file. Otherwise the
evaluation is ``CocoMetric``'s (same arguments). Config::

    val_evaluator = dict(type='CheckedCocoMetric', ann_file=..., metric='bbox')
"""
import json
import logging
import os.path as osp
import tempfile
from typing import Optional

from mmdet.evaluation import CocoMetric
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from ssd_ext.data.annotation_checks import check_objects
from ssd_ext.data.checked_dataset import POLICIES
from ssd_ext.data.coco_json import coco_objects, load_coco_json, sanitize_coco
from ssd_ext.data.data_report import DataCheckError, DataReport
from ssd_ext.registry import METRICS
from ssd_ext.utils.validation import check_in


@METRICS.register_module()
class CheckedCocoMetric(CocoMetric):
    """``CocoMetric`` that checks its ground-truth file first.

    Args:
        ann_file: COCO json of the ground truth (as ``CocoMetric``).
        on_bad_annotation: ``'skip'`` or ``'error'``.
        backend_args: where ``ann_file`` is read from (as ``CocoMetric``).
        **kwargs: ``CocoMetric``'s other arguments, by keyword.
    """

    def __init__(self, ann_file: Optional[str] = None, on_bad_annotation: str = 'skip',
                 backend_args: Optional[dict] = None, **kwargs) -> None:
        check_in('on_bad_annotation', on_bad_annotation, POLICIES)
        self.on_bad_annotation = on_bad_annotation
        self.report: Optional[DataReport] = None
        if ann_file is None:
            super().__init__(backend_args=backend_args, **kwargs)
            return
        with get_local_path(ann_file, backend_args=backend_args) as local:
            clean = self.checked_ground_truth(load_coco_json(local), ann_file)
        # CocoMetric reads its ground truth from a file: give it the checked
        # copy, a local file whatever backend held the original.
        with tempfile.TemporaryDirectory() as tmp:
            clean_file = osp.join(tmp, 'checked_ground_truth.json')
            with open(clean_file, 'w') as f:
                json.dump(clean, f)
            super().__init__(ann_file=clean_file, **kwargs)
        self.backend_args = backend_args

    def checked_ground_truth(self, data: dict, path: str) -> dict:
        """``data`` without the annotations the checks reject, under the
        policy; sets :attr:`report`."""
        self.report = report = DataReport(path)
        images, anns, cats = sanitize_coco(data, path, report)
        names = {cat_id: cat['name'] for cat_id, cat in cats.items()}
        kept = []
        for img_id, img in images.items():
            objects = coco_objects(anns[img_id], img, path, names, report)
            # Unclipped, none too small: the metric evaluates the file's boxes.
            for obj in check_objects(objects, img['width'], img['height'], report,
                                     clip=False, min_size=0.0):
                ann = dict(obj.entry.source)
                ann.setdefault('area', obj.entry.xywh[2] * obj.entry.xywh[3])
                ann.setdefault('iscrowd', 0)
                kept.append(ann)
        if report.errors:
            if self.on_bad_annotation == 'error':
                raise DataCheckError(f'{type(self).__name__}({path}): bad annotations '
                                     f'(on_bad_annotation=\'error\'):\n' + report.summary())
            print_log(f'{type(self).__name__}({path}): left {len(report.errors)} bad '
                      f'annotations out of the ground truth:\n' + report.summary(5),
                      logger='current', level=logging.WARNING)
        elif report.notes:  # counted, and said: they are evaluated as they are
            print_log(f'{type(self).__name__}({path}): ground truth evaluated as in the '
                      f'file; {report.summary()}', logger='current', level=logging.INFO)
        return dict(data, images=list(images.values()), annotations=kept,
                    categories=list(cats.values()))


__all__ = ['CheckedCocoMetric']
