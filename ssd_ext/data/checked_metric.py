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
    ``area`` is filled with the box area and missing ``iscrowd`` with 0.

A missing, empty or non-JSON file raises naming the file. Otherwise the
evaluation is ``CocoMetric``'s (same arguments). Config::

    val_evaluator = dict(type='CheckedCocoMetric', ann_file=..., metric='bbox')
"""
from typing import Optional

from mmdet.datasets.api_wrappers import COCO
from mmdet.evaluation import CocoMetric
from ssd_ext.registry import METRICS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from ssd_ext.data.checks import (DataCheckError, DataReport, ann_where, check_box,
                                 check_policy, load_coco_json, sanitize_coco)


@METRICS.register_module()
class CheckedCocoMetric(CocoMetric):
    """``CocoMetric`` that checks its ground-truth file first.

    Args:
        ann_file: COCO json of the ground truth (as ``CocoMetric``).
        on_bad_annotation: ``'skip'`` or ``'error'``.
        **kwargs: ``CocoMetric``'s other arguments, by keyword.
    """

    def __init__(self, ann_file: Optional[str] = None, on_bad_annotation: str = 'skip',
                 sort_categories: bool = False, **kwargs) -> None:
        self.on_bad_annotation = check_policy('on_bad_annotation', on_bad_annotation)
        super().__init__(ann_file=None, sort_categories=False, **kwargs)
        self.report: Optional[DataReport] = None
        if ann_file is not None:
            with get_local_path(ann_file, backend_args=self.backend_args) as local:
                data = load_coco_json(local)
            self._coco_api = self._checked_api(data, ann_file, sort_categories)

    def _checked_api(self, data: dict, path: str, sort_categories: bool) -> COCO:
        self.report = report = DataReport(path)
        images, anns, cats = sanitize_coco(data, path, report)
        kept = []
        for img_id, img in images.items():
            for ann in anns[img_id]:
                res = check_box(ann['bbox'], img['width'], img['height'],
                                clip=False, min_size=0.0)
                if res.problem:
                    report.error(res.problem, ann_where(path, ann, img), res.detail)
                    continue
                ann = dict(ann)
                ann.setdefault('area', float(ann['bbox'][2] * ann['bbox'][3]))
                ann.setdefault('iscrowd', 0)
                kept.append(ann)
        if report.errors:
            if self.on_bad_annotation == 'error':
                raise DataCheckError(f'{type(self).__name__}({path}): bad annotations '
                                     f'(on_bad_annotation=\'error\'):\n' + report.summary())
            print_log(f'{type(self).__name__}({path}): left {len(report.errors)} bad '
                      f'annotations out of the ground truth:\n' + report.summary(5),
                      logger='current', level=30)
        categories = list(cats.values())
        if sort_categories:
            categories = sorted(categories, key=lambda c: c['id'])
        clean = dict(data, images=list(images.values()), annotations=kept,
                     categories=categories)
        api = COCO()
        api.dataset = clean
        api.createIndex()
        api.img_ann_map, api.cat_img_map = api.imgToAnns, api.catToImgs
        return api


__all__ = ['CheckedCocoMetric']
