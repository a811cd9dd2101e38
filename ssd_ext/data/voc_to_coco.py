"""Pascal VOC annotations (``Annotations/*.xml``) to COCO JSON, one file per split.

Images are not copied: each COCO ``file_name`` is the bare image name, so a config
reads them in place with ``data_prefix=dict(img='VOC_ROOT/JPEGImages/')``.

The XML is trusted for class names and boxes only. Image sizes come from the
image files, because VOC-style sets in the wild carry wrong or zero sizes in
``<size>``. Boxes go through the annotation checks of the datasets
(:func:`ssd_ext.data.annotation_checks.check_xywh`).
"""
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Sequence, Tuple

from ssd_ext.data.annotation_checks import (NON_FINITE_BOX, NON_POSITIVE_BOX,
                                            PARTLY_OUTSIDE_BOX, BoxCheck, check_xywh)
from ssd_ext.data.data_report import DataCheckError
from ssd_ext.data.image_checks import header_size
from ssd_ext.data.voc_xml import VOCObject, parse_objects, parse_xml, read_image_ids


class VOCConversionError(ValueError):
    """A VOC file is missing or malformed; the message names the file."""


@dataclass
class SplitReport:
    """What :func:`convert_split` kept and dropped, for the user to check."""
    images: int = 0
    boxes: int = 0
    degenerate: List[str] = field(default_factory=list)  # XML name per dropped box
    clipped: List[str] = field(default_factory=list)  # XML name per box clipped to its image
    unknown: Counter = field(default_factory=Counter)  # class name -> skipped boxes

    def summary(self, split: str) -> str:
        """One line, e.g. ``train: 205 images, 2890 boxes, dropped 1 degenerate box (a.xml)``."""
        text = f'{split}: {self.images} images, {_boxes(self.boxes)}'
        if self.degenerate:
            files = ', '.join(sorted(set(self.degenerate)))
            text += f', dropped {_boxes(len(self.degenerate), "degenerate ")} ({files})'
        if self.clipped:
            files = ', '.join(sorted(set(self.clipped)))
            text += (f', clipped {_boxes(len(self.clipped))} partly outside their image '
                     f'({files})')
        if self.unknown:
            classes = ', '.join(f'{name}: {n}' for name, n in sorted(self.unknown.items()))
            total = sum(self.unknown.values())
            text += f', skipped {_boxes(total, "unknown-class ")} ({classes})'
        return text


def _boxes(count: int, kind: str = '') -> str:
    return f'{count} {kind}box' + ('' if count == 1 else 'es')


def read_split_ids(voc_root: str, split: str) -> List[str]:
    """Image ids listed in ``ImageSets/Main/<split>.txt``, in file order; a
    missing or empty split file, or an id listed twice, raises naming it."""
    path = osp.join(voc_root, 'ImageSets', 'Main', f'{split}.txt')
    try:
        ids = read_image_ids(path)
    except (FileNotFoundError, DataCheckError) as err:
        raise VOCConversionError(str(err)) from None
    twice = sorted(name for name, n in Counter(ids).items() if n > 1)
    if twice:
        # Each would become a second COCO image of the same file.
        raise VOCConversionError(f'{path} lists image ids more than once: {twice[:10]}')
    return ids


def parse_voc_xml(xml_path: str) -> List[VOCObject]:
    """The objects of one VOC annotation file, in file order; the first
    malformed one raises, naming the file and the problem."""
    if not osp.isfile(xml_path):
        raise VOCConversionError(f'annotation file not found: {xml_path}')
    with open(xml_path, 'rb') as f:
        root = parse_xml(f.read())
    if isinstance(root, tuple):
        raise VOCConversionError(f'{xml_path}: {root[1]}')
    objects = []
    for parsed in parse_objects(root):
        if not isinstance(parsed, VOCObject):
            raise VOCConversionError(f'{xml_path}: {parsed[1]}')
        objects.append(parsed)
    return objects


def check_voc_box(box: Tuple[float, float, float, float], width: int,
                  height: int) -> BoxCheck:
    """The annotation check of a VOC box in COCO's continuous frame: the
    result's ``box`` (x1, y1, x2, y2) is clipped to the ``width`` x ``height``
    image, or ``None`` with the ``problem``."""
    xmin, ymin, xmax, ymax = box
    detail = f'bndbox=({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})'
    # VOC corners are 1-based inclusive pixel indices: pixel column xmin is the
    # first one covered and xmax the last. In COCO's 0-based continuous frame the
    # box therefore starts at xmin - 1 and ends at xmax (w = xmax - xmin + 1).
    check = check_xywh(xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1, width, height,
                       clip=True, min_size=0.0, detail=detail)
    # max == min is a click without a drag in the labelling tool (BCCD has two);
    # the inclusive +1 above would otherwise turn it into a 1-pixel object.
    if check.box is not None and (xmax <= xmin or ymax <= ymin):
        return BoxCheck(problem=NON_POSITIVE_BOX, detail=detail)
    return check


def _image_size(voc_root: str, image_id: str) -> Tuple[str, int, int]:
    file_name = f'{image_id}.jpg'
    path = osp.join(voc_root, 'JPEGImages', file_name)
    check = header_size(path)
    if check.problem:
        kind, detail = check.problem
        raise VOCConversionError(f'{path}: {kind}' + (f' ({detail})' if detail else ''))
    width, height = check.size
    return file_name, width, height


def infer_classes(voc_root: str, splits: Iterable[str]) -> List[str]:
    """Sorted class names found in the annotations of ``splits``."""
    names = set()
    for split in splits:
        for image_id in read_split_ids(voc_root, split):
            xml_path = osp.join(voc_root, 'Annotations', f'{image_id}.xml')
            names.update(obj.name for obj in parse_voc_xml(xml_path))
    return sorted(names)


def convert_split(voc_root: str, split: str, classes: Sequence[str],
                  skip_unknown: bool = False) -> Tuple[Dict, SplitReport]:
    """COCO dict for one split; category ids are 1..K in ``classes`` order.

    ``difficult`` objects are kept as ``iscrowd=1`` so COCO evaluation and
    MMDetection's CocoDataset ignore them, as VOC evaluation does. A class not in
    ``classes`` raises :class:`VOCConversionError` unless ``skip_unknown``.
    """
    cat_ids = {name: i for i, name in enumerate(classes, start=1)}
    coco: Dict = {
        'images': [], 'annotations': [],
        'categories': [{'id': i, 'name': name} for name, i in cat_ids.items()],
    }
    report = SplitReport()
    for image_id, name in enumerate(read_split_ids(voc_root, split), start=1):
        xml_name = f'{name}.xml'
        xml_path = osp.join(voc_root, 'Annotations', xml_name)
        objects = parse_voc_xml(xml_path)
        file_name, width, height = _image_size(voc_root, name)
        coco['images'].append(
            dict(id=image_id, file_name=file_name, width=width, height=height))
        for obj in objects:
            if obj.name not in cat_ids:
                if not skip_unknown:
                    raise VOCConversionError(f'{xml_path}: class {obj.name!r} is not '
                                             f'one of {list(classes)}')
                report.unknown[obj.name] += 1
                continue
            check = check_voc_box(obj.box, width, height)
            if check.problem == NON_FINITE_BOX:  # as malformed as a coordinate 'abc'
                raise VOCConversionError(f'{xml_path}: {check.problem} {check.detail}')
            if check.box is None:
                report.degenerate.append(xml_name)
                continue
            if check.note == PARTLY_OUTSIDE_BOX:
                report.clipped.append(xml_name)
            x1, y1, x2, y2 = check.box
            bbox = [x1, y1, x2 - x1, y2 - y1]
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=image_id,
                category_id=cat_ids[obj.name], bbox=bbox, area=bbox[2] * bbox[3],
                iscrowd=int(obj.difficult)))
    report.images = len(coco['images'])
    report.boxes = len(coco['annotations'])
    return coco, report
