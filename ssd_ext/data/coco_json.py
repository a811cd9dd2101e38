"""Reading COCO json for the checks, shared by :class:`CheckedCocoDataset` and
:class:`CheckedCocoMetric`.

Annotation file (always an error, naming the file)
    missing, empty, not JSON, not a JSON object, ``images``/``categories``
    missing or not lists, categories without an ``id`` and a ``name`` (each an
    int or a string) or duplicated; config ``classes`` that the file does not
    declare, or declares in another order (MMDetection maps labels to category
    ids in the file's order, so a mismatch would silently train and evaluate
    the wrong labels).
Image entries (recorded, the image is dropped)
    not an object, no ``id`` or ``file_name``, an ``id`` that is not an int or
    string, a ``file_name`` that is not a string, duplicate ``id``, width or
    height missing, non-numeric or not positive.
Annotation entries (recorded, the annotation is dropped)
    not an object, no ``id``/``image_id``/``category_id``/``bbox``, ids that are
    not ints or strings, duplicate ``id``, ``image_id`` of no image,
    ``category_id`` not declared in ``categories``, ``bbox`` not four numbers.
    The box itself is checked by :func:`ssd_ext.data.annotation_checks.check_objects`.
"""
import json
import math
import os.path as osp
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ssd_ext.data.annotation_checks import (DUPLICATE_ANN, DUPLICATE_IMAGE, MALFORMED_ANN,
                                            MALFORMED_BOX, MALFORMED_IMAGE, UNKNOWN_CATEGORY,
                                            UNKNOWN_IMAGE, ObjectEntry)
from ssd_ext.data.data_report import DataCheckError, DataReport, Problem


def load_coco_json(path: str) -> dict:
    """Reads a COCO json file; every failure names ``path``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file not found: {path}')
    with open(path, 'rb') as f:
        raw = f.read()
    if not raw.strip():
        raise DataCheckError(f'annotation file {path} is empty')
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataCheckError(f'annotation file {path} is not valid JSON: {err}') from None
    return check_coco_structure(data, path)


def check_coco_structure(data: Any, path: str) -> dict:
    """Top-level layout: an object with ``images`` and ``categories`` lists
    (``annotations`` may be absent, e.g. for a test set)."""
    if not isinstance(data, dict):
        raise DataCheckError(f'annotation file {path} must hold a JSON object with '
                             f'"images", "annotations" and "categories", got '
                             f'{type(data).__name__}')
    for key in ('images', 'categories', 'annotations'):
        if key == 'annotations' and key not in data:
            continue
        if not isinstance(data.get(key), list):
            raise DataCheckError(f'annotation file {path}: "{key}" must be a list, '
                                 f'got {type(data.get(key)).__name__}')
    for cat in data['categories']:
        if not (isinstance(cat, dict) and is_id(cat.get('id')) and is_id(cat.get('name'))):
            raise DataCheckError(f'annotation file {path}: category entry {cat!r} '
                                 f'needs an "id" and a "name", each an int or a string')
    ids = Counter(cat['id'] for cat in data['categories'])
    names = Counter(cat['name'] for cat in data['categories'])
    dup = [i for i, n in ids.items() if n > 1] + [s for s, n in names.items() if n > 1]
    if dup:
        raise DataCheckError(f'annotation file {path}: duplicate category ids or '
                             f'names {dup}')
    return data


def check_classes(categories: List[dict], classes: Sequence[str], path: str) -> List[int]:
    """Category ids of ``classes``, in label order; raises if the file does not
    declare them all, or declares them in another order."""
    by_name = {cat['name']: cat['id'] for cat in categories}
    missing = [c for c in classes if c not in by_name]
    if missing:
        raise DataCheckError(
            f'annotation file {path} does not declare classes {missing} of the '
            f'config (metainfo classes {tuple(classes)}); it declares '
            f'{[cat["name"] for cat in categories]}. Fix the dataset\'s '
            f'metainfo=dict(classes=...) or the file\'s "categories".')
    wanted = set(classes)
    file_order = [cat['name'] for cat in categories if cat['name'] in wanted]
    if file_order != list(classes):
        raise DataCheckError(
            f'annotation file {path} declares the classes in the order {file_order} '
            f'but the config lists {list(classes)}; MMDetection numbers labels in '
            f'the file\'s order (CocoDataset and CocoMetric alike), so the names '
            f'would not match the labels. List metainfo classes in the file\'s order.')
    return [by_name[c] for c in classes]


def is_number(value: Any) -> bool:
    """An int or float (JSON's true/false are bools, not sizes)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_id(value: Any) -> bool:
    """An int or a string: what an entry can be looked up by (a JSON list or
    object cannot)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def id_problem(entry: dict, keys: Sequence[str]) -> Optional[str]:
    """The first of ``keys`` whose value is not an id, as a detail, or ``None``."""
    for key in keys:
        if not is_id(entry[key]):
            return f'{key}={entry[key]!r} is not an int or a string'
    return None


def image_entry_problem(img: Any) -> Optional[Problem]:
    """Problem of one ``images`` entry, or ``None``."""
    if not isinstance(img, dict):
        return MALFORMED_IMAGE, 'not an object'
    for key in ('id', 'file_name', 'width', 'height'):
        if key not in img:
            return MALFORMED_IMAGE, f'no "{key}"'
    detail = id_problem(img, ('id',))
    if detail:
        return MALFORMED_IMAGE, detail
    if not isinstance(img['file_name'], str) or not img['file_name']:
        return MALFORMED_IMAGE, f'file_name={img["file_name"]!r} is not a file name'
    for key in ('width', 'height'):
        if not is_number(img[key]) or not math.isfinite(img[key]) or img[key] <= 0:
            return MALFORMED_IMAGE, f'{key}={img[key]!r} is not a positive number'
    return None


def ann_entry_problem(ann: Any) -> Optional[Problem]:
    """Structural problem of one ``annotations`` entry (not its box), or ``None``."""
    if not isinstance(ann, dict):
        return MALFORMED_ANN, 'not an object'
    for key in ('id', 'image_id', 'category_id', 'bbox'):
        if key not in ann:
            return MALFORMED_ANN, f'no "{key}"'
    detail = id_problem(ann, ('id', 'image_id', 'category_id'))
    return (MALFORMED_ANN, detail) if detail else None


def ann_where(path: str, ann: Any, img: Optional[dict] = None) -> str:
    """``FILE annotation id A (image id I, NAME)`` for messages."""
    ann_id = ann.get('id', '?') if isinstance(ann, dict) else '?'
    where = f'{path} annotation id {ann_id}'
    if img is not None:
        where += f' (image id {img.get("id")}, {img.get("file_name")})'
    elif isinstance(ann, dict) and 'image_id' in ann:
        where += f' (image id {ann["image_id"]})'
    return where


def img_where(path: str, img: Any) -> str:
    """``FILE image id I (NAME)`` for messages."""
    if isinstance(img, dict):
        return f'{path} image id {img.get("id", "?")} ({img.get("file_name", "?")})'
    return f'{path} image entry {img!r:.60}'


def sanitize_coco(data: dict, path: str, report: DataReport) -> Tuple[
        Dict[Any, dict], Dict[Any, List[dict]], Dict[Any, dict]]:
    """Drops malformed image and annotation entries (recorded in ``report``).

    Returns ``images`` by id (file order), ``annotations`` per image id (file
    order) and ``categories`` by id. Boxes are not checked here."""
    images: Dict[Any, dict] = {}
    for img in data['images']:
        problem = image_entry_problem(img)
        if problem is None and img['id'] in images:
            problem = DUPLICATE_IMAGE, ''
        if problem:
            report.error(problem[0], img_where(path, img), problem[1])
            continue
        images[img['id']] = img
    cats = {cat['id']: cat for cat in data['categories']}
    anns: Dict[Any, List[dict]] = {img_id: [] for img_id in images}
    seen = set()
    for ann in data.get('annotations', []):
        problem = ann_entry_problem(ann)
        if problem is None:
            if ann['id'] in seen:
                problem = DUPLICATE_ANN, ''
            elif ann['image_id'] not in images:
                problem = UNKNOWN_IMAGE, f'image_id={ann["image_id"]!r}'
            elif ann['category_id'] not in cats:
                problem = UNKNOWN_CATEGORY, f'category_id={ann["category_id"]!r}'
        if problem:
            report.error(problem[0], ann_where(path, ann), problem[1])
            continue
        seen.add(ann['id'])
        anns[ann['image_id']].append(ann)
    return images, anns, cats


def coco_objects(anns: List[dict], img: dict, path: str, cat_names: Mapping[Any, str],
                 report: DataReport) -> List[ObjectEntry]:
    """The annotations of image ``img`` (sanitized) as objects to check;
    a ``bbox`` that is not four numbers is recorded and left out."""
    objects = []
    for ann in anns:
        where, bbox = ann_where(path, ann, img), ann['bbox']
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4
                and all(is_number(v) for v in bbox)):
            report.error(MALFORMED_BOX, where, f'bbox={bbox!r}')
            continue
        objects.append(ObjectEntry(
            where=where, category=cat_names[ann['category_id']],
            xywh=tuple(float(v) for v in bbox), detail=f'bbox={bbox!r}',
            ignore_flag=1 if ann.get('iscrowd', False) else 0,
            extra=dict(mask=ann['segmentation']) if ann.get('segmentation', None) else None,
            source=ann))
    return objects


__all__ = ['load_coco_json', 'check_coco_structure', 'check_classes', 'is_id', 'id_problem',
           'image_entry_problem', 'ann_entry_problem', 'ann_where', 'img_where',
           'sanitize_coco', 'coco_objects']
