"""A VOC2007 tree of seven real BCCD images and their XML with problems
injected, for the VOC data-check tests (the ``voc`` fixture, imported by the
tests using it): bad boxes, an unknown class name, a truncated
JPEG, a malformed XML, a missing XML, an XML without ``<size>``, a missing
image and an image id listed twice.
"""
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ssd_ext.data import CheckedVOCDataset
from ssd_ext.data import annotation_checks as ac

CLASSES = ('RBC', 'WBC', 'Platelets')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='PackDetInputs'),
]
IDS = [f'BloodImage_0000{i}' for i in range(7)]
GOOD, TRUNCATED, MALFORMED, NO_XML, NO_SIZE, NO_IMAGE, CLEAN = IDS
# Objects added to GOOD's XML (a 640x480 image): (name, bndbox texts or None
# for no <bndbox>, expected kind; None: a kept box).
INJECTED = [
    ('RBC', ('100', '100', '90', '150'), ac.NON_POSITIVE_BOX),
    ('RBC', ('100', '100', '100', '150'), ac.NON_POSITIVE_BOX),  # a click, no drag
    ('RBC', ('10', 'abc', '50', '50'), ac.MALFORMED_BOX),
    ('RBC', ('nan', '10', '50', '50'), ac.NON_FINITE_BOX),
    ('RBC', ('700', '10', '750', '50'), ac.OUTSIDE_BOX),
    ('RBC', None, ac.MALFORMED_ANN),
    ('Neutrophil', ('10', '10', '50', '50'), None),  # not in classes
    ('WBC', ('600', '10', '660', '50'), None),  # partly outside: clipped
]


def add_object(root: ET.Element, name: str, box) -> None:
    obj = ET.SubElement(root, 'object')
    ET.SubElement(obj, 'name').text = name
    ET.SubElement(obj, 'difficult').text = '0'
    if box is not None:
        bndbox = ET.SubElement(obj, 'bndbox')
        for key, text in zip(('xmin', 'ymin', 'xmax', 'ymax'), box):
            ET.SubElement(bndbox, key).text = text


def make_voc(src: Path, tmp_path: Path) -> Path:
    """``tmp_path`` holding ``data/VOCdevkit/VOC2007``, made of BCCD (``src``)
    with the injected problems; its ``test.txt`` lists every id (NO_IMAGE twice)."""
    root = tmp_path / 'data' / 'VOCdevkit' / 'VOC2007'
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (root / sub).mkdir(parents=True)
    for img_id in IDS:
        if img_id != NO_IMAGE:
            shutil.copy(src / 'JPEGImages' / f'{img_id}.jpg', root / 'JPEGImages')
        if img_id != NO_XML:
            shutil.copy(src / 'Annotations' / f'{img_id}.xml', root / 'Annotations')
    jpeg = root / 'JPEGImages' / f'{TRUNCATED}.jpg'
    jpeg.write_bytes(jpeg.read_bytes()[:len(jpeg.read_bytes()) // 2])
    xml = root / 'Annotations' / f'{MALFORMED}.xml'
    xml.write_text(xml.read_text()[:300])
    tree = ET.parse(root / 'Annotations' / f'{NO_SIZE}.xml')
    tree.getroot().remove(tree.getroot().find('size'))
    tree.write(root / 'Annotations' / f'{NO_SIZE}.xml')
    tree = ET.parse(root / 'Annotations' / f'{GOOD}.xml')
    for name, box, _ in INJECTED:
        add_object(tree.getroot(), name, box)
    tree.write(root / 'Annotations' / f'{GOOD}.xml')
    (root / 'ImageSets' / 'Main' / 'test.txt').write_text('\n'.join(IDS + [NO_IMAGE]) + '\n')
    return tmp_path


@pytest.fixture
def voc(shared_data, tmp_path) -> Path:
    """A VOC2007 tree of BCCD images with the problems of this module."""
    return make_voc(shared_data / 'bccd', tmp_path)


def paths(voc: Path, img_id: str) -> tuple:
    root = voc / 'data' / 'VOCdevkit' / 'VOC2007'
    return str(root / 'JPEGImages' / f'{img_id}.jpg'), str(root / 'Annotations' / f'{img_id}.xml')


def build(voc: Path, **kwargs) -> CheckedVOCDataset:
    from mmdet.registry import DATASETS
    cfg = dict(type='CheckedVOCDataset', data_root=str(voc / 'data' / 'VOCdevkit'),
               ann_file='VOC2007/ImageSets/Main/test.txt',
               data_prefix=dict(sub_data_root='VOC2007/'), metainfo=dict(classes=CLASSES),
               filter_cfg=dict(filter_empty_gt=True), pipeline=PIPELINE)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def loaded(ds) -> dict:
    """``{img_id: data info}`` of a dataset."""
    return {info['img_id']: info for info in (ds.get_data_info(i) for i in range(len(ds)))}
