"""A copy of six real tiny_coco images with problems injected, for the COCO
data-check tests (the ``bad_copy`` fixture, imported by the tests using it): a
missing image, a truncated JPEG, a PNG named ``.jpg``, an image without boxes,
and boxes of zero/negative size, outside the image, partly outside, with
NaN/inf coordinates, not 4 numbers, of an undeclared category.
"""
import json
import math
import shutil
from pathlib import Path
from typing import Optional

import cv2
import pytest

from ssd_ext.data import annotation_checks as ac

# In the file's category order (coco_json.check_classes insists on it).
CLASSES = ('person', 'bicycle', 'motorcycle', 'cow', 'tv', 'mouse', 'keyboard')
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='PackDetInputs'),
]
# Injected into the first image (640x360), all with category 'person' (id 1)
# unless said otherwise: (annotation id, bbox, category id, expected kind).
BAD_BOXES = [
    (900001, [10, 10, 0, 20], 1, ac.NON_POSITIVE_BOX),
    (900002, [10, 10, 20, -5], 1, ac.NON_POSITIVE_BOX),
    (900003, [700, 10, 20, 20], 1, ac.OUTSIDE_BOX),
    (900004, [math.nan, 10, 20, 20], 1, ac.NON_FINITE_BOX),
    (900005, [10, 10, math.inf, 20], 1, ac.NON_FINITE_BOX),
    (900006, [10, 10, 20], 1, ac.MALFORMED_BOX),
    (900007, [10, 10, 20, 20], 999, ac.UNKNOWN_CATEGORY),
]
PARTLY_OUTSIDE = (900008, [630, 10, 20, 20], 1)
# tools/analysis/check_dataset.py's config for the copy (write_tool_config).
TOOL_CONFIG = Path(__file__).parents[1] / 'configs' / 'ssd160_check_bad_coco.py'


class BadCopy:
    """Paths and facts of the injected copy."""

    def __init__(self, root: Path, images: list) -> None:
        self.root = root
        self.ann_file = root / 'annotations' / 'train.json'
        self.img_dir = root / 'train2017'
        self.good, self.missing, self.truncated, self.png, self.empty, self.good2 = images

    def path(self, img: dict) -> str:
        return str(self.img_dir / img['file_name'])

    def cfg(self, **kwargs) -> dict:
        cfg = dict(type='CheckedCocoDataset', data_root=str(self.root),
                   ann_file='annotations/train.json', data_prefix=dict(img='train2017/'),
                   metainfo=dict(classes=CLASSES), filter_cfg=dict(filter_empty_gt=True),
                   pipeline=PIPELINE)
        cfg.update(kwargs)
        return cfg


def make_bad_copy(src: Path, tmp_path: Path) -> BadCopy:
    """Six tiny_coco images of ``src`` under ``tmp_path/bad_coco``, with the
    problems of the module docstring injected."""
    coco = json.loads((src / 'annotations' / 'instances_train2017.json').read_text())
    images = coco['images'][:6]
    ids = {img['id'] for img in images}
    anns = [a for a in coco['annotations'] if a['image_id'] in ids]
    root = tmp_path / 'bad_coco'
    (root / 'annotations').mkdir(parents=True)
    (root / 'train2017').mkdir()
    copy = BadCopy(root, images)
    for img in images:
        if img is not copy.missing:
            shutil.copy(src / 'train2017' / img['file_name'], copy.path(img))
    raw = Path(copy.path(copy.truncated)).read_bytes()
    Path(copy.path(copy.truncated)).write_bytes(raw[:len(raw) // 2])
    decoded = cv2.imread(copy.path(copy.png))
    Path(copy.path(copy.png)).write_bytes(cv2.imencode('.png', decoded)[1].tobytes())
    anns = [a for a in anns if a['image_id'] != copy.empty['id']]
    for ann_id, bbox, cat, _ in BAD_BOXES + [PARTLY_OUTSIDE + (None,)]:
        anns.append(dict(id=ann_id, image_id=copy.good['id'], category_id=cat,
                         bbox=bbox, area=400.0, iscrowd=0))
    coco.update(images=images, annotations=anns)
    copy.ann_file.write_text(json.dumps(coco))  # NaN/Infinity as JSON extensions
    return copy


@pytest.fixture
def bad_copy(shared_data, tmp_path) -> BadCopy:
    """tiny_coco's first six images with the problems of this module."""
    return make_bad_copy(shared_data / 'tiny_coco', tmp_path)


def build(cfg: dict):
    from mmdet.registry import DATASETS
    return DATASETS.build(cfg)


def write_tool_config(copy: BadCopy, tmp_path: Path, options: Optional[dict] = None) -> Path:
    """``tests/configs/ssd160_check_bad_coco.py`` on ``copy`` (its data root and
    ``CLASSES`` merged in, then ``options``: dotted keys as ``--cfg-options``),
    written to ``tmp_path`` for ``tools/analysis/check_dataset.py``."""
    from mmengine.config import Config
    cfg = Config.fromfile(TOOL_CONFIG)
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': str(copy.root) + '/',
                         'train_dataloader.dataset.metainfo.classes': CLASSES,
                         **(options or {})})
    config = tmp_path / 'check_cfg.py'
    cfg.dump(config)
    return config
