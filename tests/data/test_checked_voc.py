"""``CheckedVOCDataset``: bad Pascal VOC data is a named error before training or
a counted, logged skip, with the policies of ``CheckedCocoDataset``.

The tests work on the VOC2007 tree of ``faulty_voc`` (seven real BCCD images
and their XML with problems injected).
"""
import math
import xml.etree.ElementTree as ET

import pytest

from ssd_ext.data import CheckedVOCDataset, DataCheckError
from ssd_ext.data import annotation_checks as ac
from ssd_ext.data import image_checks as ic
from ssd_ext.data.checked_voc import NO_XML_SIZE, voc_object_entry
from ssd_ext.data.voc_xml import MALFORMED_XML, MISSING_XML, VOCObject
from ssd_testkit.faulty_voc import (CLASSES, CLEAN, GOOD, INJECTED, MALFORMED, NO_IMAGE,  # noqa: F401
                                    NO_SIZE, NO_XML, TRUNCATED, build, loaded, paths,
                                    voc)  # (fixture)


# ------------------------------------------------------------------- skip policy
def test_skip_policy_counts_and_logs_every_problem(voc, logs):
    ds = build(voc)
    expected = {}
    for _, _, kind in INJECTED:
        if kind:
            expected[kind] = expected.get(kind, 0) + 1
    expected.update({MALFORMED_XML: 1, MISSING_XML: 1, ac.DUPLICATE_IMAGE: 1})
    assert dict(ds.report.error_counts()) == expected
    assert dict(ds.image_report.error_counts()) == {ic.MISSING_IMAGE: 1}
    assert ds.report.unlisted == {'Neutrophil': 1}
    assert ds.report.notes[ac.PARTLY_OUTSIDE_BOX] == 1
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
    assert ds.image_report.error_counts()[ic.CORRUPT_IMAGE] == 1
    assert ds[0]['inputs'].shape == (3, 64, 64)


# ------------------------------------------------------------------ error policy
def test_bad_annotations_error_names_file_object_and_problem(voc):
    with pytest.raises(DataCheckError) as info:
        build(voc, on_bad_annotation='error')
    msg = str(info.value)
    good_xml = paths(voc, GOOD)[1]
    for kind in (ac.NON_POSITIVE_BOX, ac.MALFORMED_BOX, ac.NON_FINITE_BOX,
                 ac.OUTSIDE_BOX, ac.MALFORMED_ANN, MALFORMED_XML, MISSING_XML):
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


def check_voc_box(box, width: int, height: int) -> ac.BoxCheck:
    """The box check of a VOC box, through the dataset's conversion."""
    entry = voc_object_entry(VOCObject('RBC', box, False), 'object 1', ignore=False)
    return ac.check_xywh(*entry.xywh, width, height, detail=entry.detail)


def test_voc_box_is_mmdetections_zero_based_box():
    assert check_voc_box((1, 2, 10, 21), 40, 30).box == [0.0, 1.0, 9.0, 20.0]
    assert check_voc_box((1, 1, 50, 10), 40, 30).box == [0.0, 0.0, 40.0, 9.0]
    assert check_voc_box((5, 5, 5, 9), 40, 30).problem == ac.NON_POSITIVE_BOX


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
