"""``CheckedCocoDataset`` on bad COCO data: clear errors before training, or
counted, logged skips (the injected copy of ``faulty_coco``)."""
import json
import math

import pytest

from ssd_ext.data import CheckedCocoDataset, DataCheckError
from ssd_ext.data import annotation_checks as ac
from ssd_ext.data.checked_coco import IGNORED_ANN
from ssd_testkit.faulty_coco import BAD_BOXES, bad_copy, build  # noqa: F401  (fixture)


# ------------------------------------------------------------------- skip policy
def test_skip_policy_counts_and_logs_every_problem(bad_copy, logs):
    ds = build(bad_copy.cfg())
    kinds = ds.report.error_counts()
    expected = {}
    for _, _, _, kind in BAD_BOXES:
        expected[kind] = expected.get(kind, 0) + 1
    assert dict(kinds) == expected
    assert ds.report.notes[ac.PARTLY_OUTSIDE_BOX] == 1
    assert ds.report.notes[ac.NO_BOXES] == 1
    # The missing image is dropped at load, the empty one by filter_empty_gt.
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert bad_copy.path(bad_copy.missing) not in paths
    assert bad_copy.path(bad_copy.empty) not in paths
    assert len(ds) == 4
    # Partly outside: clipped to the 640-wide image; bad boxes are gone.
    good = ds.get_data_info(paths.index(bad_copy.path(bad_copy.good)))
    boxes = [inst['bbox'] for inst in good['instances']]
    assert [630.0, 10.0, 640.0, 30.0] in boxes
    assert all(all(math.isfinite(v) for v in b) and b[2] > b[0] and b[3] > b[1]
               for b in boxes)
    # One summary at the end of loading, as a warning, with counts and names.
    [(level, message)] = logs
    assert level == 30
    assert '2 zero or negative box size' in message and '2 NaN/inf box coordinates' in message
    assert '1 image file missing' in message and bad_copy.missing['file_name'] in message
    assert 'annotation id 900001' in message
    assert 'ignored' in message and "'cake'" in message  # categories not in classes


def test_corrupt_image_is_a_counted_skip_while_training(bad_copy, logs):
    ds = build(bad_copy.cfg())
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    idx = paths.index(bad_copy.path(bad_copy.truncated))
    sample = ds[idx]  # replaced by another sample, not a crash
    assert sample['data_samples'].img_path != bad_copy.path(bad_copy.truncated)
    assert ds.bad_sample_count >= 1
    skip_logs = [m for level, m in logs if 'skipping sample' in m]
    assert skip_logs and bad_copy.path(bad_copy.truncated) in skip_logs[0]
    assert 'not decodable' in skip_logs[0]
    # Every index yields a sample: one bad image never stops a pass.
    for i in range(len(ds)):
        assert ds[i]['inputs'].shape == (3, 64, 64)


def test_decode_check_at_load(bad_copy, logs):
    ds = build(bad_copy.cfg(check_images='decode'))
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert bad_copy.path(bad_copy.truncated) not in paths
    assert len(ds) == 3
    idx = paths.index(bad_copy.path(bad_copy.png))
    sample = ds[idx]
    assert sample['data_samples'].img_path == bad_copy.path(bad_copy.png)
    assert sample['data_samples'].ori_shape == (bad_copy.png['height'], bad_copy.png['width'])
    assert ds.bad_sample_count == 0
    assert '1 image file not decodable' in logs[0][1]


def test_test_mode_decodes_images_at_load(bad_copy, logs):
    ds = build(bad_copy.cfg(test_mode=True))
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert bad_copy.path(bad_copy.truncated) not in paths
    assert bad_copy.path(bad_copy.empty) in paths  # no filtering in test mode
    assert len(ds) == 4


# ------------------------------------------------------------------ error policy
def test_error_policy_names_file_annotation_and_problem(bad_copy):
    with pytest.raises(DataCheckError) as info:
        build(bad_copy.cfg(on_bad_annotation='error'))
    msg = str(info.value)
    assert str(bad_copy.ann_file) in msg
    assert '7 problem(s)' in msg
    for ann_id, _, _, kind in BAD_BOXES:
        assert f'annotation id {ann_id}' in msg
        assert kind in msg
    assert bad_copy.good['file_name'] in msg
    assert 'check_dataset.py' in msg


def test_missing_image_error_at_load(bad_copy):
    with pytest.raises(DataCheckError, match=bad_copy.missing['file_name']) as info:
        build(bad_copy.cfg(on_bad_image='error'))
    assert 'image file missing' in str(info.value)


def test_corrupt_image_error_at_fetch(bad_copy):
    ds = build(bad_copy.cfg(on_bad_image='error', check_images='none'))
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    with pytest.raises(DataCheckError) as info:
        ds[paths.index(bad_copy.path(bad_copy.truncated))]
    assert bad_copy.path(bad_copy.truncated) in str(info.value)
    assert 'not decodable' in str(info.value)
    with pytest.raises(DataCheckError, match='image file missing'):
        ds[paths.index(bad_copy.path(bad_copy.missing))]


def test_consecutive_failures_stop_the_run(bad_copy, logs):
    # Every image path is wrong, yet images "exist" check is off: the pipeline
    # fails on every sample, which is a config problem, not bad data.
    ds = build(bad_copy.cfg(check_images='none', data_prefix=dict(img='nowhere/'),
                            max_consecutive_bad=3))
    with pytest.raises(DataCheckError, match='3 samples failed in a row'):
        ds[0]


def test_wrong_image_dir_names_the_prefix(bad_copy):
    with pytest.raises(DataCheckError) as info:
        build(bad_copy.cfg(data_prefix=dict(img='nowhere/')))
    assert 'none of its 6 images is usable' in str(info.value)
    assert 'nowhere' in str(info.value)


def test_unlisted_category_policy(bad_copy):
    with pytest.raises(DataCheckError) as info:
        build(bad_copy.cfg(on_unlisted_category='error'))
    assert 'categories not in classes' in str(info.value)
    assert "'cake'" in str(info.value)


@pytest.mark.parametrize('content, problem', [
    (b'', 'is empty'), (b'   \n', 'is empty'), (b'{"images": [', 'is not valid JSON'),
    (b'[1, 2]', 'must hold a JSON object'), (b'{"images": {}, "categories": []}',
                                             '"images" must be a list')])
def test_unusable_annotation_file_names_the_file(bad_copy, content, problem):
    bad_copy.ann_file.write_bytes(content)
    with pytest.raises(DataCheckError) as info:
        build(bad_copy.cfg())
    assert str(bad_copy.ann_file) in str(info.value) and problem in str(info.value)


def test_file_listing_no_images_names_the_file(bad_copy):
    coco = json.loads(bad_copy.ann_file.read_text())
    bad_copy.ann_file.write_text(json.dumps(dict(coco, images=[], annotations=[])))
    with pytest.raises(DataCheckError, match=f'{bad_copy.ann_file}.*lists no images'):
        build(bad_copy.cfg(test_mode=True))


def test_classes_not_in_the_file_or_in_another_order(bad_copy):
    with pytest.raises(DataCheckError, match=r"does not declare classes \['persn'\]"):
        build(bad_copy.cfg(metainfo=dict(classes=('persn', 'bicycle'))))
    with pytest.raises(DataCheckError, match='in the order'):
        build(bad_copy.cfg(metainfo=dict(classes=('bicycle', 'person'))))


def test_policy_values_are_checked(bad_copy):
    with pytest.raises(ValueError, match=r"on_bad_image='drop' is not allowed; choose "
                                         r"one of \['error', 'skip'\]"):
        build(bad_copy.cfg(on_bad_image='drop'))
    with pytest.raises(ValueError, match='check_images'):
        build(bad_copy.cfg(check_images='full'))
    # An infinite minimum would drop every box as too small.
    for size in (-1, float('inf'), float('nan')):
        with pytest.raises(ValueError, match=f'min_box_size must be a finite number >= 0, '
                                             f'got {size!r}'):
            build(bad_copy.cfg(min_box_size=size))


def test_annotations_marked_ignore_are_skipped_and_counted(bad_copy):
    coco = json.loads(bad_copy.ann_file.read_text())
    image_id = bad_copy.good['id']
    before = build(bad_copy.cfg())
    ignored = next(a for a in coco['annotations'] if a['image_id'] == image_id)
    ignored['ignore'] = 1
    bad_copy.ann_file.write_text(json.dumps(coco))
    ds = build(bad_copy.cfg())
    assert ds.report.notes[IGNORED_ANN] == 1 and IGNORED_ANN not in before.report.notes
    assert f'annotation id {ignored["id"]}' in ds.report.note_examples[IGNORED_ANN][0]
    [old, new] = [next(d for d in map(dataset.get_data_info, range(len(dataset)))
                       if d['img_id'] == image_id) for dataset in (before, ds)]
    assert len(new['instances']) == len(old['instances']) - 1


def test_clean_data_matches_mmdet_coco_dataset(shared_data):
    """On clean data the checked dataset loads what CocoDataset loads."""
    from mmdet.datasets import CocoDataset
    kw = dict(data_root=str(shared_data / 'tiny_coco'),
              ann_file='annotations/instances_train2017.json',
              data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True),
              pipeline=[])
    ours, ref = CheckedCocoDataset(**kw), CocoDataset(**kw)
    assert len(ours) == len(ref)
    for i in range(len(ref)):
        assert ours.get_data_info(i) == ref.get_data_info(i)
