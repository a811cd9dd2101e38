"""How closely an engine's detections follow PyTorch's when they are not meant
to be identical (INT8, fp16): the share of PyTorch's confident detections the
engine also finds, and how far its boxes and scores move.

:func:`ssd_ext.deployment.compare_detections` is the strict check (fp32
engines, export tolerances); this one measures the looser agreement.
"""
from typing import Dict, Iterable

import numpy as np

from ssd_ext.deployment.verify import Detections
from ssd_ext.structures.box_iou import box_iou


ZERO = dict(reference=0, matched=0, iou_sum=0.0, box_diff_sum=0.0, score_diff_sum=0.0,
            max_box_diff=0.0, max_score_diff=0.0)


def image_agreement(ref: Detections, other: Detections, score_thr: float = 0.3,
                    iou_thr: float = 0.5) -> Dict[str, float]:
    """Matches each of ``ref``'s detections scoring at least ``score_thr``, best
    first, to the unused ``other`` detection of the same label (any score) with
    the highest IoU, if that IoU is at least ``iou_thr``.

    Returns ``reference`` (detections considered), ``matched``, and over the
    matches the sums ``iou_sum``, ``box_diff_sum`` (of each match's largest
    coordinate difference, px), ``score_diff_sum`` and the maxima
    ``max_box_diff`` and ``max_score_diff``.
    """
    out = dict(ZERO)
    order = np.argsort(-ref['scores'], kind='stable')
    order = order[ref['scores'][order] >= score_thr]
    out['reference'] = len(order)
    if not len(order) or not len(other['scores']):
        return out
    ious = box_iou(ref['bboxes'][order], other['bboxes'])
    ious[ref['labels'][order][:, None] != other['labels'][None]] = -1
    used = np.zeros(len(other['scores']), bool)
    for row, i in enumerate(order):
        cand = np.where(used, -1, ious[row])
        j = int(cand.argmax())
        if cand[j] < iou_thr:
            continue
        used[j] = True
        score_diff = abs(float(other['scores'][j] - ref['scores'][i]))
        box_diff = float(np.abs(other['bboxes'][j] - ref['bboxes'][i]).max())
        out['matched'] += 1
        out['iou_sum'] += float(cand[j])
        out['box_diff_sum'] += box_diff
        out['score_diff_sum'] += score_diff
        out['max_box_diff'] = max(out['max_box_diff'], box_diff)
        out['max_score_diff'] = max(out['max_score_diff'], score_diff)
    return out


def summarise(per_image: Iterable[Dict[str, float]]) -> Dict[str, float]:
    """Totals of :func:`image_agreement` over images: ``recall`` (matched /
    reference, 1.0 when there was nothing to match), ``mean_iou``,
    ``mean_box_diff``, ``mean_score_diff``, ``max_box_diff``, ``max_score_diff``."""
    tot = dict(ZERO)
    for r in per_image:
        for k in ('reference', 'matched', 'iou_sum', 'box_diff_sum', 'score_diff_sum'):
            tot[k] += r[k]
        for k in ('max_box_diff', 'max_score_diff'):
            tot[k] = max(tot[k], r[k])
    n = max(tot['matched'], 1)
    return dict(reference=tot['reference'], matched=tot['matched'],
                recall=tot['matched'] / tot['reference'] if tot['reference'] else 1.0,
                mean_iou=tot['iou_sum'] / n, mean_box_diff=tot['box_diff_sum'] / n,
                mean_score_diff=tot['score_diff_sum'] / n,
                max_box_diff=tot['max_box_diff'], max_score_diff=tot['max_score_diff'])
