"""``ClasswiseVOCMetric``: MMDetection's ``VOCMetric`` that also reports each class's AP.

MMDetection 3.3.0's ``VOCMetric`` computes every class's AP (``eval_map``) but
returns only the mean, and it names the classes in its log table after the 20
VOC classes whenever the dataset's folder says VOC2007/VOC2012, whatever the
config's ``classes`` are (docs/upstream.md). This metric returns, under its
prefix (default ``pascal_voc``):

``mAP``
    the mean over ``iou_thrs`` of the per-threshold mAP (``VOCMetric``'s value);
``AP50`` (``AP<iou>`` for each threshold)
    that threshold's mean over the classes with ground truth, rounded to 3
    decimals (``VOCMetric``'s value);
``AP50_<class>`` (``AP<iou>_<class>``)
    each class's AP at that threshold, ``-1`` for a class without ground truth
    (which the means leave out, as ``VOCMetric`` does).

``eval_mode`` is ``'11points'`` (VOC2007) or ``'area'`` (VOC2010 and later),
as for ``VOCMetric``. Config::

    val_evaluator = dict(type='ClasswiseVOCMetric', metric='mAP', eval_mode='11points')
"""
from collections import OrderedDict
from typing import Dict, Sequence

from mmdet.evaluation import VOCMetric
from mmdet.evaluation.functional import eval_map
from mmengine.logging import MMLogger

from ssd_ext.registry import METRICS


def ap_key(iou_thr: float) -> str:
    """``'AP50'`` for 0.5: ``VOCMetric``'s name of a threshold's mAP."""
    return f'AP{int(iou_thr * 100):02d}'


@METRICS.register_module()
class ClasswiseVOCMetric(VOCMetric):
    """``VOCMetric`` whose results include each class's AP.

    Args:
        **kwargs: ``VOCMetric``'s arguments, by keyword. ``scale_ranges`` is
            refused: ``VOCMetric`` 3.3.0 fails on it after a whole evaluation.
    """

    def __init__(self, **kwargs) -> None:
        if kwargs.get('scale_ranges') is not None:
            raise ValueError(f'{type(self).__name__}: scale_ranges='
                             f'{kwargs["scale_ranges"]!r} is not supported (MMDetection '
                             f'3.3.0\'s VOCMetric cannot round its per-scale mAP)')
        super().__init__(**kwargs)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """``results``: ``(ground truth, per-class detections)`` per image, as
        ``VOCMetric.process`` stores them."""
        if self.metric != 'mAP':
            return super().compute_metrics(results)
        logger = MMLogger.get_current_instance()
        gts, preds = zip(*results)
        classes = list(self.dataset_meta['classes'])
        metrics: Dict[str, float] = OrderedDict(mAP=0.0)
        mean_aps = []
        for iou_thr in self.iou_thrs:
            logger.info(f'\n{"-" * 15}iou_thr: {iou_thr}{"-" * 15}')
            # VOC's legacy pixel convention (width = x2 - x1 + 1), as VOCMetric.
            mean_ap, per_class = eval_map(
                list(preds), list(gts), iou_thr=iou_thr, dataset=classes, logger=logger,
                eval_mode=self.eval_mode, use_legacy_coordinate=True)
            mean_aps.append(mean_ap)
            key = ap_key(iou_thr)
            metrics[key] = round(mean_ap, 3)
            metrics.update(class_aps(key, classes, per_class))
        metrics['mAP'] = sum(mean_aps) / len(mean_aps)
        return metrics


def class_aps(key: str, classes: Sequence[str], per_class: Sequence[dict]
              ) -> Dict[str, float]:
    """``{'<key>_<class>': AP}`` from ``eval_map``'s per-class results
    (dicts with ``num_gts`` and ``ap``); -1 for a class without ground truth."""
    return {f'{key}_{name}': float(res['ap']) if res['num_gts'] > 0 else -1.0
            for name, res in zip(classes, per_class)}


__all__ = ['ClasswiseVOCMetric', 'ap_key', 'class_aps']
