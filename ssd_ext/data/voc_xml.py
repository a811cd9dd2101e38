"""Reading Pascal VOC annotations: the split files (``ImageSets/Main/<split>.txt``)
and the XML (``Annotations/<id>.xml``).

Shared by :class:`CheckedVOCDataset` and the VOC -> COCO converter. A split file
that is missing or empty raises, naming it. Nothing raises on bad XML content:
the file and each ``<object>`` give either their value or a problem ``(kind,
detail)``, so a dataset can drop one bad box and keep the rest while the
converter stops at the first. Kinds are those of
:mod:`ssd_ext.data.annotation_checks`, so reports count VOC and COCO problems
alike.
"""
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from mmengine import fileio

from ssd_ext.data.annotation_checks import MALFORMED_ANN, MALFORMED_BOX
from ssd_ext.data.data_report import DataCheckError, Problem

BOX_KEYS = ('xmin', 'ymin', 'xmax', 'ymax')
MALFORMED_XML = 'annotation XML not parseable'
MISSING_XML = 'annotation XML missing'


@dataclass(frozen=True)
class VOCObject:
    """One ``<object>``: class name, box as written (1-based inclusive pixel
    indices ``xmin, ymin, xmax, ymax``, unchecked) and the difficult flag."""
    name: str
    box: Tuple[float, float, float, float]
    difficult: bool


def read_image_ids(path: str, backend_args: Optional[dict] = None) -> List[str]:
    """Image ids of a split file (one per line, blank lines skipped); a missing
    or empty file raises naming it."""
    if not fileio.exists(path, backend_args=backend_args):
        raise FileNotFoundError(f'annotation file not found: {path}')
    text = fileio.get_text(path, backend_args=backend_args)
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if not ids:
        raise DataCheckError(f'annotation file {path} is empty (no image ids)')
    return ids


def parse_xml(raw: bytes) -> Union[ET.Element, Problem]:
    """The root element of an XML file's bytes, or the problem."""
    try:
        return ET.fromstring(raw)
    except ET.ParseError as err:
        return MALFORMED_XML, f'not valid XML ({err})'


def _text(element: ET.Element, key: str) -> Optional[str]:
    text = element.findtext(key)
    return text.strip() if text is not None and text.strip() else None


def parse_object(obj: ET.Element) -> Union[VOCObject, Problem]:
    """One ``<object>`` element, or the problem that makes it unusable."""
    name = _text(obj, 'name')
    if name is None:
        return MALFORMED_ANN, '<object> has no <name>'
    bndbox = obj.find('bndbox')
    if bndbox is None:
        return MALFORMED_ANN, '<object> has no <bndbox>'
    coords = []
    for key in BOX_KEYS:
        text = _text(bndbox, key)
        if text is None:
            return MALFORMED_BOX, f'<bndbox> has no <{key}>'
        try:
            coords.append(float(text))  # 'nan'/'inf' parse; the box check rejects them
        except ValueError:
            return MALFORMED_BOX, f'<{key}> is not a number: {text!r}'
    # Many VOC-style exports omit <difficult>; absent means an ordinary object.
    difficult = _text(obj, 'difficult') or '0'
    try:
        flag = int(difficult)
    except ValueError:
        return MALFORMED_ANN, f'<difficult> is not an integer: {difficult!r}'
    return VOCObject(name, tuple(coords), flag != 0)


def parse_objects(root: ET.Element) -> List[Union[VOCObject, Problem]]:
    """Every ``<object>`` child of the root, in file order (as MMDetection's
    ``XMLDataset`` reads them)."""
    return [parse_object(obj) for obj in root.findall('object')]


def xml_image_size(root: ET.Element) -> Optional[Tuple[int, int]]:
    """``(width, height)`` from ``<size>``, or ``None`` where it is missing,
    not integers or not positive."""
    size = root.find('size')
    if size is None:
        return None
    try:
        width, height = int(_text(size, 'width') or ''), int(_text(size, 'height') or '')
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


__all__ = ['VOCObject', 'read_image_ids', 'parse_xml', 'parse_object', 'parse_objects',
           'xml_image_size', 'BOX_KEYS', 'MALFORMED_XML', 'MISSING_XML']
