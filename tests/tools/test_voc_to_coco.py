"""VOC -> COCO conversion: synthetic edge cases, then the real BCCD set."""
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest
from PIL import Image
from pycocotools.coco import COCO

from ssd_ext.data import annotation_checks as ac
from ssd_ext.data.voc_to_coco import (VOCConversionError, check_voc_box, convert_split,
                                      infer_classes, parse_voc_xml)

Obj = Tuple[str, Tuple[int, int, int, int], int]  # name, (xmin, ymin, xmax, ymax), difficult


def _write_xml(path: Path, objects: Sequence[Obj], xml_size: Tuple[int, int]) -> None:
    body = ''.join(
        f'<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>'
        f'<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>'
        '</bndbox></object>'
        for name, (x1, y1, x2, y2), difficult in objects)
    path.write_text(f'<annotation><size><width>{xml_size[0]}</width>'
                    f'<height>{xml_size[1]}</height></size>{body}</annotation>')


def make_voc(root: Path, images: Dict[str, List[Obj]], split: str = 'train',
             image_size: Tuple[int, int] = (40, 30),
             xml_size: Tuple[int, int] = (0, 0)) -> Path:
    """A VOC tree whose XMLs claim ``xml_size``, as broken real sets do."""
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, objects in images.items():
        Image.new('RGB', image_size, (128, 64, 32)).save(root / 'JPEGImages' / f'{name}.jpg')
        _write_xml(root / 'Annotations' / f'{name}.xml', objects, xml_size)
    (root / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(images) + '\n')
    return root


def test_image_size_comes_from_the_image_not_the_xml(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 0)]}, image_size=(40, 30))
    coco, _ = convert_split(str(root), 'train', ['cat'])
    assert coco['images'] == [dict(id=1, file_name='a.jpg', width=40, height=30)]


def test_one_based_inclusive_coordinates_convert_exactly(tmp_path):
    # Pixels 1..10 (1-based) are 0..9 (0-based): a 10-pixel box starting at 0.
    root = make_voc(tmp_path, {'a': [('cat', (1, 2, 10, 21), 0)]})
    coco, _ = convert_split(str(root), 'train', ['cat'])
    ann, = coco['annotations']
    assert ann['bbox'] == [0.0, 1.0, 10.0, 20.0]
    assert ann['area'] == 200.0
    assert ann['iscrowd'] == 0


def test_box_is_clipped_to_the_image():
    check = check_voc_box((0, -5, 50, 31), width=40, height=30)
    assert check.box == [0.0, 0.0, 40.0, 30.0] and check.note == ac.PARTLY_OUTSIDE_BOX


def test_clipped_boxes_are_counted(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (0, -5, 50, 31), 0), ('cat', (1, 1, 10, 10), 0)],
                               'b': [('cat', (30, 20, 41, 30), 0)]})
    coco, report = convert_split(str(root), 'train', ['cat'])
    assert [a['bbox'] for a in coco['annotations']] == [
        [0.0, 0.0, 40.0, 30.0], [0.0, 0.0, 10.0, 10.0], [29.0, 19.0, 11.0, 11.0]]
    assert report.clipped == ['a.xml', 'b.xml']
    assert report.summary('train') == (
        'train: 2 images, 3 boxes, clipped 2 boxes partly outside their image (a.xml, b.xml)')


@pytest.mark.parametrize('box, kind', [
    ((5, 5, 5, 9), ac.NON_POSITIVE_BOX), ((5, 5, 9, 5), ac.NON_POSITIVE_BOX),
    ((9, 5, 5, 9), ac.NON_POSITIVE_BOX), ((45, 5, 50, 9), ac.OUTSIDE_BOX),
    ((float('nan'), 5, 9, 9), ac.NON_FINITE_BOX), ((1, 5, float('inf'), 9), ac.NON_FINITE_BOX)])
def test_degenerate_boxes_are_rejected(box, kind):
    # Zero extent as drawn, inverted, entirely outside the 40x30 image, NaN/inf.
    check = check_voc_box(box, width=40, height=30)
    assert check.box is None and check.problem == kind


def test_nan_coordinate_is_an_error_naming_the_file(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 0)],
                               'b': [('cat', ('nan', 1, 10, 10), 0)]})
    with pytest.raises(VOCConversionError, match=r'b\.xml: NaN/inf box coordinates '
                                                 r'bndbox=\(nan, 1, 10, 10\)'):
        convert_split(str(root), 'train', ['cat'])


@pytest.mark.parametrize('lines, problem', [
    ('\n', 'is empty'), ('a\nb\na\n', r"lists image ids more than once: \['a'\]")])
def test_empty_split_or_id_listed_twice_is_an_error_naming_it(tmp_path, lines, problem):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 0)],
                               'b': [('cat', (1, 1, 10, 10), 0)]})
    (root / 'ImageSets' / 'Main' / 'train.txt').write_text(lines)
    with pytest.raises(VOCConversionError, match=r'train\.txt.* ' + problem):
        convert_split(str(root), 'train', ['cat'])


def test_degenerate_boxes_are_dropped_and_counted(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 0), ('cat', (7, 7, 7, 7), 0)],
                               'b': [('cat', (3, 3, 3, 9), 0)]})
    coco, report = convert_split(str(root), 'train', ['cat'])
    assert len(coco['annotations']) == report.boxes == 1
    assert report.degenerate == ['a.xml', 'b.xml']
    assert report.summary('train') == (
        'train: 2 images, 1 box, dropped 2 degenerate boxes (a.xml, b.xml)')


def test_difficult_object_becomes_crowd(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 1), ('cat', (2, 2, 9, 9), 0)]})
    coco, _ = convert_split(str(root), 'train', ['cat'])
    assert [a['iscrowd'] for a in coco['annotations']] == [1, 0]


def test_unknown_class_is_an_error_naming_the_file(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 0)],
                               'b': [('dog', (1, 1, 10, 10), 0)]})
    with pytest.raises(VOCConversionError, match=r"b\.xml: class 'dog'"):
        convert_split(str(root), 'train', ['cat'])


def test_unknown_class_is_skipped_and_counted_on_request(tmp_path):
    root = make_voc(tmp_path, {'a': [('dog', (1, 1, 10, 10), 0), ('cat', (1, 1, 9, 9), 0),
                                     ('dog', (2, 2, 9, 9), 0)]})
    coco, report = convert_split(str(root), 'train', ['cat'], skip_unknown=True)
    assert [a['category_id'] for a in coco['annotations']] == [1]
    assert report.unknown == {'dog': 2}
    assert 'skipped 2 unknown-class boxes (dog: 2)' in report.summary('train')


def test_missing_or_corrupt_image_is_an_error_naming_it(tmp_path):
    root = make_voc(tmp_path, {'a': [('cat', (1, 1, 10, 10), 0)]})
    (root / 'JPEGImages' / 'a.jpg').unlink()
    with pytest.raises(VOCConversionError, match=r'a\.jpg: image file missing'):
        convert_split(str(root), 'train', ['cat'])
    (root / 'JPEGImages' / 'a.jpg').write_bytes(b'not an image')
    with pytest.raises(VOCConversionError, match=r'a\.jpg: image file not decodable'):
        convert_split(str(root), 'train', ['cat'])


def test_malformed_coordinate_names_file_and_key(tmp_path):
    xml = tmp_path / 'a.xml'
    xml.write_text('<annotation><object><name>cat</name><bndbox><xmin>1</xmin><ymin>x</ymin>'
                   '<xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>')
    with pytest.raises(VOCConversionError, match=r"a\.xml: <ymin> is not a number: 'x'"):
        parse_voc_xml(str(xml))


def test_classes_are_inferred_sorted_across_splits(tmp_path):
    make_voc(tmp_path, {'a': [('zebra', (1, 1, 10, 10), 0)]}, split='train')
    make_voc(tmp_path, {'b': [('ant', (1, 1, 10, 10), 0), ('zebra', (1, 1, 9, 9), 0)]},
             split='val')
    assert infer_classes(str(tmp_path), ['train', 'val']) == ['ant', 'zebra']
    assert infer_classes(str(tmp_path), ['train']) == ['zebra']


def _run_tool(repo_root: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    tool = repo_root / 'tools' / 'dataset_converters' / 'voc_to_coco.py'
    return subprocess.run([sys.executable, str(tool), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_infers_classes_and_fails_cleanly(repo_root, tmp_path):
    voc = make_voc(tmp_path / 'voc', {'a': [('dog', (1, 1, 10, 10), 0),
                                            ('cat', (2, 2, 9, 9), 0)]})
    ok = _run_tool(repo_root, tmp_path, 'voc', 'out', '--splits', 'train')
    assert ok.returncode == 0, ok.stderr
    assert 'train: 1 images, 2 boxes' in ok.stdout
    coco = json.loads((tmp_path / 'out' / 'annotations' / 'train.json').read_text())
    assert coco['categories'] == [{'id': 1, 'name': 'cat'}, {'id': 2, 'name': 'dog'}]

    bad = _run_tool(repo_root, tmp_path, str(voc), 'out2', '--splits', 'train',
                    '--classes', 'cat')
    assert bad.returncode != 0
    assert "a.xml: class 'dog'" in bad.stderr
    assert not (tmp_path / 'out2').exists()


@pytest.fixture(scope='module')
def bccd_coco(tmp_path_factory, repo_root, shared_data):
    """BCCD converted once through the CLI, run from outside the repository."""
    out = tmp_path_factory.mktemp('bccd_coco')
    result = _run_tool(repo_root, out, str(shared_data / 'bccd'), str(out),
                       '--classes', 'RBC', 'WBC', 'Platelets')
    assert result.returncode == 0, result.stderr
    return out / 'annotations', result.stdout


def test_bccd_split_counts_sizes_and_classes(bccd_coco, shared_data):
    ann_dir, _ = bccd_coco
    for split, num_images in (('train', 205), ('val', 87), ('test', 72)):
        coco = COCO(str(ann_dir / f'{split}.json'))
        assert len(coco.getImgIds()) == num_images
        assert {(i['width'], i['height']) for i in coco.dataset['images']} == {(640, 480)}
        assert all((shared_data / 'bccd' / 'JPEGImages' / i['file_name']).is_file()
                   for i in coco.dataset['images'])
        assert [(c['id'], c['name']) for c in coco.loadCats(coco.getCatIds())] == [
            (1, 'RBC'), (2, 'WBC'), (3, 'Platelets')]
        assert all(a['bbox'][2] > 0 and a['bbox'][3] > 0 for a in coco.dataset['annotations'])


def test_bccd_zero_area_boxes_are_dropped_and_counted(bccd_coco):
    # BloodImage_00343 is in train, BloodImage_00338 in val; each has one
    # zero-area box among 4888 in all.
    ann_dir, stdout = bccd_coco
    assert 'train: 205 images, 2804 boxes, dropped 1 degenerate box (BloodImage_00343.xml)' \
        in stdout
    assert 'val: 87 images, 1137 boxes, dropped 1 degenerate box (BloodImage_00338.xml)' \
        in stdout
    assert 'test: 72 images, 945 boxes\n' in stdout
    counts = [len(json.loads((ann_dir / f'{s}.json').read_text())['annotations'])
              for s in ('train', 'val', 'test')]
    assert counts == [2804, 1137, 945] and sum(counts) == 4888 - 2


def test_bccd_loads_in_mmdet_with_data_prefix_at_jpegimages(bccd_coco, shared_data):
    from mmdet.datasets import CocoDataset
    ann_dir, _ = bccd_coco
    dataset = CocoDataset(ann_file=str(ann_dir / 'val.json'),
                          data_prefix=dict(img=str(shared_data / 'bccd' / 'JPEGImages') + '/'),
                          metainfo=dict(classes=('RBC', 'WBC', 'Platelets')),
                          filter_cfg=None, pipeline=[], test_mode=True)
    assert len(dataset) == 87
    assert all(Path(info['img_path']).is_file() for info in dataset.data_list)
