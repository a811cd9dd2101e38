"""The annotation checks: one image's objects against its size and the classes.

Whatever the format (COCO json through :mod:`ssd_ext.data.coco_json`, Pascal
VOC XML through :mod:`ssd_ext.data.voc_xml`), its reader turns each object into
an :class:`ObjectEntry` (box as top-left corner and size in px) and
:func:`check_objects` checks them, for the checked datasets and
:class:`CheckedCocoMetric` alike. What counts as what:

Errors (``on_bad_annotation``; the box is dropped)
    NaN/inf coordinates, zero or negative width or height, a box entirely
    outside the image. The readers add: entries that are not objects or lack
    keys, duplicate ids, ids of no image or of undeclared categories, boxes
    that are not four numbers.
Notes (counted, never an error)
    boxes partly outside the image (clipped to it, or kept as they are),
    boxes smaller than ``min_size`` px (dropped, as MMDetection's
    ``CocoDataset`` does for < 1 px), images left without boxes.
Unlisted (``on_unlisted_category``)
    objects whose class is not in the config's ``classes`` (dropped, counted
    per class name).
"""
import math
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Tuple

from ssd_ext.data.data_report import DataReport

# Problem kinds: the keys of the counts in reports and logs.
MALFORMED_IMAGE = 'malformed image entry'
DUPLICATE_IMAGE = 'duplicate image id'
MALFORMED_ANN = 'malformed annotation'
DUPLICATE_ANN = 'duplicate annotation id'
UNKNOWN_IMAGE = 'image_id of no image'
UNKNOWN_CATEGORY = 'category_id not declared in categories'
MALFORMED_BOX = 'bbox is not 4 numbers'
NON_FINITE_BOX = 'NaN/inf box coordinates'
NON_POSITIVE_BOX = 'zero or negative box size'
OUTSIDE_BOX = 'box outside the image'
# Notes: counted, never errors.
PARTLY_OUTSIDE_BOX = 'box partly outside the image (clipped)'
PARTLY_OUTSIDE_KEPT = 'box partly outside the image (kept)'
TINY_BOX = 'box smaller than min_box_size (dropped)'
UNLISTED_CATEGORY = 'category not in classes (ignored)'
NO_BOXES = 'image without boxes'


@dataclass(frozen=True)
class BoxCheck:
    """Result of :func:`check_xywh`: ``box`` is x1, y1, x2, y2 (clipped when
    asked) or ``None`` when the box is dropped; ``problem`` is an error kind;
    ``note`` a kind that is only counted."""
    box: Optional[List[float]] = None
    problem: Optional[str] = None
    note: Optional[str] = None
    detail: str = ''


def check_xywh(x: float, y: float, w: float, h: float, width: float, height: float,
               clip: bool = True, min_size: float = 1.0, detail: str = '') -> BoxCheck:
    """Checks a box given by its top-left corner ``x, y`` and size ``w, h`` (px,
    any format's box converted to these) against a ``width`` x ``height`` image;
    ``detail`` is how messages show the box as the file wrote it."""
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return BoxCheck(problem=NON_FINITE_BOX, detail=detail)
    if w <= 0 or h <= 0:
        return BoxCheck(problem=NON_POSITIVE_BOX, detail=f'{detail} (w={w:g}, h={h:g})')
    x1, y1, x2, y2 = x, y, x + w, y + h
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height)
    if cx2 <= cx1 or cy2 <= cy1:
        return BoxCheck(problem=OUTSIDE_BOX,
                        detail=f'{detail} in a {width:g}x{height:g} image')
    note = None
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        note = PARTLY_OUTSIDE_BOX if clip else PARTLY_OUTSIDE_KEPT
        if clip:
            x1, y1, x2, y2 = cx1, cy1, cx2, cy2
    # The visible part decides: a box mostly outside is as useless as a tiny one.
    if min(cx2 - cx1, cy2 - cy1) < min_size:
        return BoxCheck(note=TINY_BOX, detail=detail)
    return BoxCheck(box=[x1, y1, x2, y2], note=note)


@dataclass(frozen=True)
class ObjectEntry:
    """One object of an image as a format's reader read it, box unchecked.

    ``xywh`` is its top-left corner and size in px (the format's box converted
    to these); ``detail`` shows the box as the file wrote it; ``where`` names
    the object in messages; ``category`` is its class name; ``ignore_flag`` is 1
    for objects the loss and the metric ignore (COCO crowd, VOC difficult);
    ``extra`` holds other instance keys (COCO's ``mask``); ``source`` is the
    entry as read (a COCO annotation dict), for callers that keep it."""
    where: str
    category: str
    xywh: Tuple[float, float, float, float]
    detail: str = ''
    ignore_flag: int = 0
    extra: Optional[dict] = None
    source: Any = None


@dataclass(frozen=True)
class KeptObject:
    """An object that passed :func:`check_objects`: its box (x1, y1, x2, y2)
    and label (``None`` where no classes were given)."""
    entry: ObjectEntry
    box: List[float]
    label: Optional[int]


def check_objects(objects: Iterable[ObjectEntry], width: float, height: float,
                  report: DataReport, labels: Optional[Mapping[str, int]] = None,
                  clip: bool = True, min_size: float = 1.0) -> List[KeptObject]:
    """The objects of one ``width`` x ``height`` image that are usable, in order.

    Records in ``report``: box problems as errors (the box is dropped), box
    notes, and, where ``labels`` (class name -> label) is given, objects of
    other classes as unlisted (dropped); without ``labels`` every class is kept.
    """
    kept = []
    for obj in objects:
        res = check_xywh(*obj.xywh, width, height, clip, min_size, obj.detail)
        if res.problem:
            report.error(res.problem, obj.where, res.detail)
            continue
        if res.note:
            report.note(res.note, obj.where)
        if res.box is None:
            continue
        if labels is not None and obj.category not in labels:
            report.unlisted[obj.category] += 1
            report.note(UNLISTED_CATEGORY, f'{obj.where}: category {obj.category!r}')
            continue
        kept.append(KeptObject(obj, res.box, None if labels is None else labels[obj.category]))
    return kept


__all__ = ['BoxCheck', 'ObjectEntry', 'KeptObject', 'check_xywh', 'check_objects',
           'MALFORMED_IMAGE', 'DUPLICATE_IMAGE', 'MALFORMED_ANN', 'DUPLICATE_ANN',
           'UNKNOWN_IMAGE', 'UNKNOWN_CATEGORY', 'MALFORMED_BOX', 'NON_FINITE_BOX',
           'NON_POSITIVE_BOX', 'OUTSIDE_BOX', 'PARTLY_OUTSIDE_BOX', 'PARTLY_OUTSIDE_KEPT',
           'TINY_BOX', 'UNLISTED_CATEGORY', 'NO_BOXES']
