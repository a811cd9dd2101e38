"""``tools/analysis/check_dataset.py``: every problem of a dataset config in one
report, counted as the checked datasets count them (the injected COCO copy of
``faulty_coco`` and VOC tree of ``faulty_voc``)."""
import json
import subprocess
import sys
from collections import Counter

import pytest

from ssd_ext.data import annotation_checks as ac
from ssd_ext.data import image_checks as ic
from ssd_ext.data.checked_voc import NO_XML_SIZE
from ssd_ext.data.voc_xml import MALFORMED_XML, MISSING_XML
from ssd_testkit.faulty_coco import (CLASSES, bad_copy, build,  # noqa: F401  (fixture)
                                     write_tool_config)
from ssd_testkit.faulty_voc import voc  # noqa: F401  (fixture)
from ssd_testkit.remapped_storage import remapped


@pytest.fixture
def check_dataset(repo_root):
    """The tool as a module."""
    sys.path.insert(0, str(repo_root / 'tools' / 'analysis'))
    try:
        import check_dataset
    finally:
        sys.path.pop(0)
    return check_dataset


def test_check_dataset_reports_every_problem_in_one_pass(repo_root, bad_copy, tmp_path):
    config = write_tool_config(bad_copy, tmp_path)
    proc = subprocess.run([sys.executable, str(repo_root / 'tools' / 'analysis' /
                                               'check_dataset.py'), str(config),
                           '--workers', '1'],
                          capture_output=True, text=True, cwd=repo_root, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    for kind, count in [(ac.NON_POSITIVE_BOX, 2), (ac.NON_FINITE_BOX, 2),
                        (ac.OUTSIDE_BOX, 1), (ac.MALFORMED_BOX, 1),
                        (ac.UNKNOWN_CATEGORY, 1), (ic.MISSING_IMAGE, 1),
                        (ic.CORRUPT_IMAGE, 1), (ac.PARTLY_OUTSIDE_BOX, 1),
                        (ac.NO_BOXES, 1)]:
        assert f'  {kind}: {count}\n' in out, (kind, out)
    assert 'number of classes differs from the model: 1' in out
    assert 'has 7 classes but model.bbox_head.num_classes = 3' in out
    assert 'image content is not the format of its extension' in out
    assert f'{bad_copy.png["file_name"]}' in out and 'PNG data' in out
    assert bad_copy.missing['file_name'] in out and 'annotation id 900004' in out
    assert ac.UNLISTED_CATEGORY in out
    assert 'summary: 10 error(s) of 8 kind(s)' in out
    assert 'RESULT: FAILED (10 error(s))' in out


def test_check_dataset_clean_and_unusable_files(check_dataset, repo_root, shared_data,
                                                tmp_path, bad_copy, capsys):
    config = repo_root / 'tests' / 'configs' / 'ssd160_check_tiny_coco.py'
    data_root = str(shared_data / 'tiny_coco') + '/'
    assert check_dataset.main([str(config), '--no-decode', '--cfg-options',
                               f'train_dataloader.dataset.data_root={data_root}']) == 0
    assert 'RESULT: OK' in capsys.readouterr().out
    coco = json.loads(bad_copy.ann_file.read_text())
    bad_copy.ann_file.write_text(json.dumps(dict(coco, images=[], annotations=[])))
    config = write_tool_config(bad_copy, tmp_path)
    assert check_dataset.main([str(config)]) == 1
    out = capsys.readouterr().out
    assert 'annotation file unusable' in out and f'{bad_copy.ann_file} lists no images' in out
    bad_copy.ann_file.write_text('')
    assert check_dataset.main([str(config)]) == 1
    out = capsys.readouterr().out
    assert 'annotation file unusable' in out and f'{bad_copy.ann_file} is empty' in out


def test_check_dataset_reports_voc_problems(repo_root, voc):
    """The e2e VOC test config, run from the folder holding data/VOCdevkit."""
    proc = subprocess.run([sys.executable, str(repo_root / 'tools/analysis/check_dataset.py'),
                           str(repo_root / 'tests/configs/ssd300_voc0712_bccd.py'),
                           '--split', 'test', '--workers', '1'],
                          capture_output=True, text=True, cwd=voc, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    for kind, count in [(ac.NON_POSITIVE_BOX, 2), (ac.MALFORMED_BOX, 1),
                        (ac.NON_FINITE_BOX, 1), (ac.OUTSIDE_BOX, 1),
                        (ac.MALFORMED_ANN, 1), (MALFORMED_XML, 1), (MISSING_XML, 1),
                        (ac.DUPLICATE_IMAGE, 1), (ic.MISSING_IMAGE, 1),
                        (ic.CORRUPT_IMAGE, 1), (ac.PARTLY_OUTSIDE_BOX, 1),
                        (ac.UNLISTED_CATEGORY, 1), (NO_XML_SIZE, 1)]:
        assert f'  {kind}: {count}\n' in out, (kind, out)
    assert 'dataset: CheckedVOCDataset (test_dataloader.dataset)' in out
    assert "annotations of categories not in classes (ignored): {'Neutrophil': 1}" in out
    assert 'summary: 11 error(s) of 10 kind(s)' in out
    assert 'RESULT: FAILED (11 error(s))' in out


def test_check_dataset_counts_what_the_dataset_counts(check_dataset, bad_copy):
    from mmengine.config import ConfigDict
    cfg = bad_copy.cfg()
    report, _, data_list = check_dataset.scan_dataset(ConfigDict(cfg), None, '')
    ds = build(dict(cfg, check_images='decode'))
    expected = ds.report.error_counts() + ds.image_report.error_counts()
    assert report.error_counts() == expected
    # The tool's one extra finding: the PNG named .jpg, a note.
    assert report.notes == ds.report.notes + Counter({ic.FORMAT_NOTE: 1})
    assert report.unlisted == ds.report.unlisted
    assert len(data_list) == 6 and len(ds) == 3  # listed vs usable with boxes


def test_check_dataset_reads_through_backend_args(check_dataset, bad_copy, tmp_path, capsys):
    seen_root, backend_args = remapped(bad_copy.root)
    config = write_tool_config(bad_copy, tmp_path, {
        'model.bbox_head.num_classes': len(CLASSES),
        'train_dataloader.dataset.data_root': seen_root + '/',
        'train_dataloader.dataset.backend_args': backend_args})
    assert check_dataset.main([str(config), '--workers', '2']) == 1
    out = capsys.readouterr().out
    # The same problems as on local paths: one missing and one corrupt image,
    # not six missing ones.
    assert f'  {ic.MISSING_IMAGE}: 1\n' in out and f'  {ic.CORRUPT_IMAGE}: 1\n' in out
    assert f'{seen_root}/train2017/{bad_copy.missing["file_name"]}' in out
    assert 'RESULT: FAILED (9 error(s))' in out


def test_wrapped_datasets_are_named_by_their_config_key(check_dataset):
    from mmengine.config import ConfigDict
    cfg = ConfigDict(type='RepeatDataset', times=2, dataset=dict(
        type='ConcatDataset', datasets=[dict(type='VOCDataset', ann_file='07.txt'),
                                        dict(type='VOCDataset', ann_file='12.txt')]))
    leaves = check_dataset.leaf_datasets(cfg, 'train_dataloader.dataset')
    assert [(key, ds.ann_file) for key, ds in leaves] == [
        ('train_dataloader.dataset.dataset.datasets[0]', '07.txt'),
        ('train_dataloader.dataset.dataset.datasets[1]', '12.txt')]
