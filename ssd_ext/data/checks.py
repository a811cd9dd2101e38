"""Checks of detection data, shared by :class:`CheckedCocoDataset`,
:class:`CheckedVOCDataset`, :class:`CheckedCocoMetric` and
``tools/analysis/check_dataset.py``.

Every check returns a short description of the problem (or ``None``) so callers
can name the file, image and annotation it belongs to. What counts as a problem:

Annotation file (always an error, naming the file)
    missing, empty, not JSON, not a JSON object, ``images``/``categories``
    missing or not lists; config ``classes`` that the file does not declare, or
    declares in another order (MMDetection maps labels to category ids in the
    file's order, so a mismatch would silently train and evaluate the wrong
    labels).
Image entries (``on_bad_annotation``)
    not an object, no ``id`` or ``file_name``, duplicate ``id``, width or height
    missing, non-numeric or not positive.
Annotations (``on_bad_annotation``)
    not an object, no ``id``/``image_id``/``category_id``/``bbox``, duplicate
    ``id``, ``image_id`` of no image, ``category_id`` not declared in
    ``categories``, ``bbox`` not four numbers, NaN/inf coordinates, zero or
    negative width or height, box entirely outside the image.
Notes (counted and logged, never an error)
    boxes partly outside the image (clipped to it), boxes smaller than
    ``min_box_size`` px (dropped, as MMDetection's ``CocoDataset`` does for
    < 1 px), annotations of declared categories that are not in ``classes``
    (``on_unlisted_category``, default: ignored, as ``CocoDataset`` does),
    images without boxes.
Image files (``on_bad_image``)
    missing, unreadable, or not decodable (corrupt or truncated). Images are
    decoded by content, not by extension: a PNG named ``.jpg`` is fine.

The box checks (:func:`check_xywh`) and the loop that turns one image's
objects into MMDetection instances (:func:`collect_instances`) do not depend on
the annotation format: COCO json and Pascal VOC XML feed them alike.
"""
import json
import math
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

POLICIES = ('error', 'skip')

# Problem kinds (keys of the counters in reports and logs).
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
TINY_BOX = 'box smaller than min_box_size (dropped)'
UNLISTED_CATEGORY = 'category not in classes (ignored)'
NO_BOXES = 'image without boxes'
# Image files.
MISSING_IMAGE = 'image file missing'
UNREADABLE_IMAGE = 'image file unreadable'
CORRUPT_IMAGE = 'image file not decodable'


class DataCheckError(ValueError):
    """Bad data found; the message names the file and the problems."""


def check_policy(name: str, value: str, allowed: Sequence[str] = POLICIES) -> str:
    if value not in allowed:
        raise ValueError(f'{name}={value!r} is not allowed; choose one of '
                         f'{list(allowed)}')
    return value


# --------------------------------------------------------------- annotation file
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
        if not (isinstance(cat, dict) and 'id' in cat and 'name' in cat):
            raise DataCheckError(f'annotation file {path}: category entry {cat!r} '
                                 f'needs "id" and "name"')
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


Problem = Optional[Tuple[str, str]]  # (kind, detail) or None


def image_entry_problem(img: Any) -> Problem:
    """Problem of one ``images`` entry, or ``None``."""
    if not isinstance(img, dict):
        return MALFORMED_IMAGE, 'not an object'
    for key in ('id', 'file_name', 'width', 'height'):
        if key not in img:
            return MALFORMED_IMAGE, f'no "{key}"'
    for key in ('width', 'height'):
        if not _number(img[key]) or not math.isfinite(img[key]) or img[key] <= 0:
            return MALFORMED_IMAGE, f'{key}={img[key]!r} is not a positive number'
    return None


def ann_entry_problem(ann: Any) -> Problem:
    """Structural problem of one ``annotations`` entry (not its box), or ``None``."""
    if not isinstance(ann, dict):
        return MALFORMED_ANN, 'not an object'
    for key in ('id', 'image_id', 'category_id', 'bbox'):
        if key not in ann:
            return MALFORMED_ANN, f'no "{key}"'
    return None


@dataclass
class BoxCheck:
    """Result of :func:`check_box`: ``box`` is x1, y1, x2, y2 (clipped) or
    ``None`` when the box is dropped; ``problem`` is an error kind; ``note`` a
    kind that is only counted."""
    box: Optional[List[float]] = None
    problem: Optional[str] = None
    note: Optional[str] = None
    detail: str = ''


def check_box(bbox: Any, width: float, height: float, clip: bool = True,
              min_size: float = 1.0) -> BoxCheck:
    """Checks a COCO ``[x, y, w, h]`` box against a ``width`` x ``height`` image."""
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4
            and all(_number(v) for v in bbox)):
        return BoxCheck(problem=MALFORMED_BOX, detail=f'bbox={bbox!r}')
    x, y, w, h = (float(v) for v in bbox)
    return check_xywh(x, y, w, h, width, height, clip, min_size, f'bbox={bbox!r}')


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
        note = PARTLY_OUTSIDE_BOX
        if clip:
            x1, y1, x2, y2 = cx1, cy1, cx2, cy2
    if min(cx2 - cx1, cy2 - cy1) < min_size:
        return BoxCheck(note=TINY_BOX, detail=detail)
    return BoxCheck(box=[x1, y1, x2, y2], note=note)


# ------------------------------------------------------------------ image files
def image_file_problem(path: str, decode: bool = True,
                       backend_args: Optional[dict] = None) -> Problem:
    """``None`` if ``path`` exists (and, with ``decode``, decodes); else the
    problem. Decoding goes by the file's content (OpenCV, as
    ``LoadImageFromFile`` does), so the extension does not matter."""
    from mmengine import fileio
    try:
        if not fileio.exists(path, backend_args=backend_args):
            return MISSING_IMAGE, ''
        if not decode:
            return None
        raw = fileio.get(path, backend_args=backend_args)
    except OSError as err:
        return UNREADABLE_IMAGE, str(err)
    return decode_problem(raw)


def decode_problem(raw: bytes) -> Problem:
    """``None`` if the bytes decode to an image, else the problem."""
    import mmcv
    if not raw:
        return CORRUPT_IMAGE, 'empty file'
    try:
        img = mmcv.imfrombytes(raw, flag='color')
    except Exception as err:  # cv2.error and friends
        return CORRUPT_IMAGE, f'{type(err).__name__}: {str(err).strip()}'
    if img is None:
        return CORRUPT_IMAGE, f'corrupt or truncated {image_format(raw)} data'
    # Some OpenCV builds decode a truncated JPEG (grey below the cut) with only
    # a warning; a JPEG must end with its EOI marker, else ask PIL.
    if image_format(raw) == 'JPEG' and not raw.rstrip(b'\x00\r\n ').endswith(b'\xff\xd9'):
        problem = _pil_problem(raw)
        if problem:
            return CORRUPT_IMAGE, f'truncated JPEG data ({problem})'
    return None


def _pil_problem(raw: bytes) -> Optional[str]:
    import io
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return None
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
    except Exception as err:  # OSError('image file is truncated ...') and friends
        return str(err)
    return None


def image_format(raw: bytes) -> str:
    """The format the bytes are in, by their magic number."""
    if raw.startswith(b'\xff\xd8'):
        return 'JPEG'
    if raw.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'PNG'
    if raw[:4] in (b'II*\x00', b'MM\x00*'):
        return 'TIFF'
    if raw.startswith(b'BM'):
        return 'BMP'
    if raw[:4] == b'RIFF' and raw[8:12] == b'WEBP':
        return 'WEBP'
    return 'unknown'


# ----------------------------------------------------------------------- report
@dataclass
class Finding:
    kind: str
    where: str
    detail: str = ''

    def __str__(self) -> str:
        return f'{self.where}: {self.kind}' + (f' ({self.detail})' if self.detail else '')


@dataclass
class DataReport:
    """Problems found while loading or scanning a dataset, grouped by kind.

    ``errors`` are problems under a policy (``on_bad_annotation``,
    ``on_bad_image``); ``notes`` are only counted; ``unlisted`` counts the
    objects of each class name not in the config's ``classes``; ``listed`` is
    the number of images the annotation file lists."""
    source: str
    errors: List[Finding] = field(default_factory=list)
    notes: Counter = field(default_factory=Counter)
    note_examples: Dict[str, List[str]] = field(default_factory=dict)
    unlisted: Counter = field(default_factory=Counter)  # category name -> count
    listed: int = 0

    def error(self, kind: str, where: str, detail: str = '') -> None:
        self.errors.append(Finding(kind, where, detail))

    def note(self, kind: str, where: str = '', count: int = 1) -> None:
        self.notes[kind] += count
        if where:
            examples = self.note_examples.setdefault(kind, [])
            if len(examples) < 20:
                examples.append(where)

    def unlisted_category(self, name: str, where: str) -> None:
        self.unlisted[name] += 1
        self.note(UNLISTED_CATEGORY, f'{where}: category {name!r}')

    def error_counts(self) -> Counter:
        return Counter(f.kind for f in self.errors)

    def summary(self, max_examples: int = 20) -> str:
        lines = []
        if self.errors:
            counts = ', '.join(f'{n} {k}' for k, n in sorted(self.error_counts().items()))
            lines.append(f'{len(self.errors)} problem(s): {counts}')
            lines += [f'  {f}' for f in self.errors[:max_examples]]
            if len(self.errors) > max_examples:
                lines.append(f'  ... and {len(self.errors) - max_examples} more')
        if self.notes:
            lines.append('notes: ' + ', '.join(f'{n} {k}' for k, n in sorted(self.notes.items())))
        return '\n'.join(lines)


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


@dataclass(frozen=True)
class ObjectEntry:
    """One object of an image, from either annotation format, after its box check.

    ``where`` names it in messages; ``category`` is its class name;
    ``ignore_flag`` is 1 for objects the loss and the metric ignore (COCO crowd,
    VOC difficult); ``extra`` holds other instance keys (COCO's ``mask``)."""
    where: str
    check: BoxCheck
    category: str
    ignore_flag: int = 0
    extra: Optional[dict] = None


def collect_instances(objects: Iterable[ObjectEntry], labels: Mapping[str, int],
                      report: DataReport, image_where: str) -> List[dict]:
    """MMDetection instances of one image: ``bbox`` (x1, y1, x2, y2 px, clipped
    when the check clipped it), ``bbox_label`` (``labels[category]``) and
    ``ignore_flag``, plus each object's ``extra`` keys.

    Records in ``report``: box problems as errors (the box is dropped), box notes,
    classes missing from ``labels`` as unlisted (dropped), and an image left
    without boxes (``image_where`` names it)."""
    instances = []
    for obj in objects:
        res = obj.check
        if res.problem:
            report.error(res.problem, obj.where, res.detail)
            continue
        if res.note:
            report.note(res.note, obj.where)
        if res.box is None:
            continue
        if obj.category not in labels:
            report.unlisted_category(obj.category, obj.where)
            continue
        instances.append(dict(bbox=res.box, bbox_label=labels[obj.category],
                              ignore_flag=obj.ignore_flag, **(obj.extra or {})))
    if not instances:
        report.note(NO_BOXES, image_where)
    return instances


__all__ = ['DataCheckError', 'DataReport', 'Finding', 'BoxCheck', 'ObjectEntry',
           'load_coco_json', 'check_coco_structure', 'check_classes', 'check_box',
           'check_xywh', 'image_entry_problem', 'ann_entry_problem', 'image_file_problem',
           'decode_problem', 'image_format', 'sanitize_coco', 'collect_instances',
           'check_policy', 'POLICIES']
