"""The synthetic shapes dataset: deterministic per seed, and clean by the
datasets' own checks (every box inside its image, no problem, no note)."""
import json

from ssd_ext.data import CheckedCocoDataset
from ssd_ext.data.synthetic_shapes import CLASSES, make_dataset, make_split


def test_same_seed_same_dataset(tmp_path):
    first = make_split(str(tmp_path / 'a'), 'train', 3, seed=7, image_size=96)
    again = make_split(str(tmp_path / 'b'), 'train', 3, seed=7, image_size=96)
    other = make_split(str(tmp_path / 'c'), 'train', 3, seed=8, image_size=96)
    assert open(first).read() == open(again).read() != open(other).read()
    for name in ('00001.png', '00003.png'):
        assert (tmp_path / 'a' / 'train' / name).read_bytes() == \
            (tmp_path / 'b' / 'train' / name).read_bytes()


def test_splits_load_clean_in_the_checked_dataset(tmp_path):
    make_dataset(str(tmp_path), num_train=6, num_val=2, seed=0, image_size=96)
    for split, num in (('train', 6), ('val', 2)):
        coco = json.loads((tmp_path / 'annotations' / f'{split}.json').read_text())
        assert [c['name'] for c in coco['categories']] == list(CLASSES)
        ds = CheckedCocoDataset(data_root=str(tmp_path),
                                ann_file=f'annotations/{split}.json',
                                data_prefix=dict(img=f'{split}/'), metainfo=dict(classes=CLASSES),
                                check_images='decode', pipeline=[])
        assert len(ds) == num
        assert not ds.report.errors and not ds.image_report.errors and not ds.report.notes
        boxes = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
        assert boxes == len(coco['annotations']) >= num
