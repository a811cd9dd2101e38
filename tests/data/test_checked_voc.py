"""``CheckedVOCDataset``: bad Pascal VOC data is a named error before training or
a counted, logged skip, with the policies of ``CheckedCocoDataset``.

The tests work on a VOC2007 tree in tmp_path made of seven real BCCD images and
their XML, with problems injected: bad boxes, an unknown class name, a
truncated JPEG, a malformed XML, a missing XML, an XML without ``<size>``, a
missing image and an image id listed twice.
"""
import math
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ssd_ext.data import CheckedVOCDataset, DataCheckError
from ssd_ext.data import checks
from ssd_ext.data.checked_voc import NO_XML_SIZE, check_voc_box
from ssd_ext.data.voc_xml import MALFORMED_XML, MISSING_XML

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
    ('RBC', ('100', '100', '90', '150'), checks.NON_POSITIVE_BOX),
    ('RBC', ('100', '100', '100', '150'), checks.NON_POSITIVE_BOX),  # a click, no drag
    ('RBC', ('10', 'abc', '50', '50'), checks.MALFORMED_BOX),
    ('RBC', ('nan', '10', '50', '50'), checks.NON_FINITE_BOX),
    ('RBC', ('700', '10', '750', '50'), checks.OUTSIDE_BOX),
    ('RBC', None, checks.MALFORMED_ANN),
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


@pytest.fixture
def voc(shared_data, tmp_path) -> Path:
    """``tmp_path`` holding ``data/VOCdevkit/VOC2007`` with the injected problems;
    its ``test.txt`` lists every id (NO_IMAGE twice)."""
    src = shared_data / 'bccd'
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


# ------------------------------------------------------------------- skip policy
def test_skip_policy_counts_and_logs_every_problem(voc, logs):
    ds = build(voc)
    expected = {}
    for _, _, kind in INJECTED:
        if kind:
            expected[kind] = expected.get(kind, 0) + 1
    expected.update({MALFORMED_XML: 1, MISSING_XML: 1, checks.DUPLICATE_IMAGE: 1})
    assert dict(ds.report.error_counts()) == expected
    assert dict(ds.image_report.error_counts()) == {checks.MISSING_IMAGE: 1}
    assert ds.report.unlisted == {'Neutrophil': 1}
    assert ds.report.notes[checks.PARTLY_OUTSIDE_BOX] == 1
    assert ds.report.notes[NO_XML_SIZE] == 1
    # Training checks that images exist; the truncated one is caught at fetch.
    assert sorted(loaded(ds)) == sorted([GOOD, TRUNCATED, NO_SIZE, CLEAN])
    good = loaded(ds)[GOOD]
    original = len(ET.parse(voc / 'data/VOCdevkit/VOC2007/Annotations' /
                            f'{GOOD}.xml').getroot().findall('object')) - len(INJECTED)
    assert len(good['instances']) == original + 1  # + the clipped WBC
    assert dict(bbox=[599.0, 9.0, 640.0, 49.0], bbox_label=1, ignore_flag=0) \
        in good['instances']
    assert all(math.isfinite(v) for inst in good['instances'] for v in inst['bbox'])
    assert (loaded(ds)[NO_SIZE]['width'], loaded(ds)[NO_SIZE]['height']) == (640, 480)
    [(level, message)] = logs
    assert level == 30  # one warning at the end of loading, with counts and names
    assert '4 of 8 images' in message
    assert "2 zero or negative box size" in message and '1 annotation XML missing' in message
    assert f'{GOOD}.xml object' in message
    assert "ignored 1 annotations of categories not in classes: {'Neutrophil': 1}" in message


def test_truncated_jpeg_is_a_counted_skip_while_training(voc, logs):
    ds = build(voc)
    ids = list(loaded(ds))
    sample = ds[ids.index(TRUNCATED)]  # replaced by another sample, not a crash
    assert sample['data_samples'].img_id != TRUNCATED
    assert ds.bad_sample_count >= 1
    skips = [m for _, m in logs if 'skipping sample' in m]
    assert skips and paths(voc, TRUNCATED)[0] in skips[0] and 'not decodable' in skips[0]


def test_test_mode_decodes_at_load_and_keeps_images_without_boxes(voc, logs):
    ds = build(voc, test_mode=True)
    assert sorted(loaded(ds)) == sorted([GOOD, NO_SIZE, CLEAN])
    assert ds.image_report.error_counts()[checks.CORRUPT_IMAGE] == 1
    assert ds[0]['inputs'].shape == (3, 64, 64)


# ------------------------------------------------------------------ error policy
def test_bad_annotations_error_names_file_object_and_problem(voc):
    with pytest.raises(DataCheckError) as info:
        build(voc, on_bad_annotation='error')
    msg = str(info.value)
    good_xml = paths(voc, GOOD)[1]
    for kind in (checks.NON_POSITIVE_BOX, checks.MALFORMED_BOX, checks.NON_FINITE_BOX,
                 checks.OUTSIDE_BOX, checks.MALFORMED_ANN, MALFORMED_XML, MISSING_XML):
        assert kind in msg
    assert f'{good_xml} object ' in msg and "<ymin> is not a number: 'abc'" in msg
    assert 'bndbox=(100, 100, 90, 150)' in msg and '<object> has no <bndbox>' in msg
    assert f'{paths(voc, MALFORMED)[1]}: {MALFORMED_XML} (not valid XML' in msg
    assert paths(voc, NO_XML)[1] in msg
    assert 'check_dataset.py' in msg


def test_unknown_class_name_error(voc):
    with pytest.raises(DataCheckError) as info:
        build(voc, on_unlisted_category='error')
    msg = str(info.value)
    assert "{'Neutrophil': 1}" in msg and "category 'Neutrophil'" in msg
    assert paths(voc, GOOD)[1] in msg


def test_bad_images_error_at_load_and_at_fetch(voc):
    with pytest.raises(DataCheckError, match=f'{NO_IMAGE}.jpg.*image file missing'):
        build(voc, on_bad_image='error')
    with pytest.raises(DataCheckError, match=f'{TRUNCATED}.jpg.*not decodable'):
        build(voc, on_bad_image='error', test_mode=True)
    (voc / 'data/VOCdevkit/VOC2007/ImageSets/Main/test.txt').write_text(TRUNCATED)
    ds = build(voc, on_bad_image='error')
    with pytest.raises(DataCheckError, match=f'{TRUNCATED}.jpg.*not decodable'):
        ds[0]


def test_unusable_split_file_names_it(voc):
    split = voc / 'data/VOCdevkit/VOC2007/ImageSets/Main/test.txt'
    split.write_text('\n\n')
    with pytest.raises(DataCheckError, match=f'{split} is empty'):
        build(voc)
    split.unlink()
    with pytest.raises(FileNotFoundError, match=f'annotation file not found: {split}'):
        build(voc)
    split.write_text(NO_XML)
    with pytest.raises(DataCheckError, match='none of its 1 images is usable'):
        build(voc)


def test_voc_box_is_mmdetections_zero_based_box():
    assert check_voc_box((1, 2, 10, 21), 40, 30).box == [0.0, 1.0, 9.0, 20.0]
    assert check_voc_box((1, 1, 50, 10), 40, 30).box == [0.0, 0.0, 40.0, 9.0]
    assert check_voc_box((5, 5, 5, 9), 40, 30).problem == checks.NON_POSITIVE_BOX


def test_clean_bccd_matches_mmdet_voc_dataset(shared_data):
    """On BCCD the checked dataset loads what VOCDataset loads, less the two
    zero-area boxes VOCDataset keeps."""
    from mmdet.datasets import VOCDataset
    kw = dict(data_root=str(shared_data / 'bccd'), ann_file='ImageSets/Main/trainval.txt',
              data_prefix=dict(sub_data_root=''), metainfo=dict(classes=CLASSES),
              filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=[])
    ours, ref = CheckedVOCDataset(**kw), VOCDataset(**kw)
    assert len(ours) == len(ref) == 292
    dropped = []
    for i in range(len(ref)):
        a, b = ours.get_data_info(i), ref.get_data_info(i)
        assert {k: v for k, v in a.items() if k != 'instances'} == \
            {k: v for k, v in b.items() if k != 'instances'}
        kept = [dict(inst, bbox=[float(v) for v in inst['bbox']]) for inst in b['instances']]
        dropped += [(a['img_id'], inst['bbox']) for inst in kept if inst not in a['instances']]
        assert [inst for inst in kept if inst in a['instances']] == a['instances']
    assert dropped == [('BloodImage_00338', [503.0, 336.0, 503.0, 336.0]),
                       ('BloodImage_00343', [180.0, 328.0, 180.0, 328.0])]


# ------------------------------------------------------------- check_dataset.py
def test_check_dataset_reports_voc_problems(repo_root, voc):
    """The e2e VOC test config, run from the folder holding data/VOCdevkit."""
    proc = subprocess.run([sys.executable, str(repo_root / 'tools/analysis/check_dataset.py'),
                           str(repo_root / 'tests/configs/ssd300_voc0712_bccd.py'),
                           '--split', 'test', '--workers', '1'],
                          capture_output=True, text=True, cwd=voc, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    for kind, count in [(checks.NON_POSITIVE_BOX, 2), (checks.MALFORMED_BOX, 1),
                        (checks.NON_FINITE_BOX, 1), (checks.OUTSIDE_BOX, 1),
                        (checks.MALFORMED_ANN, 1), (MALFORMED_XML, 1), (MISSING_XML, 1),
                        (checks.DUPLICATE_IMAGE, 1), (checks.MISSING_IMAGE, 1),
                        (checks.CORRUPT_IMAGE, 1), (checks.PARTLY_OUTSIDE_BOX, 1),
                        (checks.UNLISTED_CATEGORY, 1), (NO_XML_SIZE, 1)]:
        assert f'  {kind}: {count}\n' in out, (kind, out)
    assert 'dataset: CheckedVOCDataset (test_dataloader.dataset)' in out
    assert "annotations of categories not in classes (ignored): {'Neutrophil': 1}" in out
    assert 'summary: 11 error(s) of 10 kind(s)' in out
    assert 'RESULT: FAILED (11 error(s))' in out
