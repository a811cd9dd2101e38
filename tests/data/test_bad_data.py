"""Bad data and bad config: clear errors before training, or counted skips.

Every test works on a copy (in tmp_path) of six real tiny_coco images with
problems injected: a missing image, a truncated JPEG, a PNG named ``.jpg``, an
image without boxes, and boxes of zero/negative size, outside the image, partly
outside, with NaN/inf coordinates, not 4 numbers, of an undeclared category.
"""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from ssd_ext.data import CheckedCocoDataset, DataCheckError
from ssd_ext.data import checks
from ssd_ext.engine.data_checks_hook import (DatasetModelMismatchError,
                                             check_consistency)
from ssd_ext.registry import MODELS, TASK_UTILS

# In the file's category order (checks.check_classes insists on it).
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
    (900001, [10, 10, 0, 20], 1, checks.NON_POSITIVE_BOX),
    (900002, [10, 10, 20, -5], 1, checks.NON_POSITIVE_BOX),
    (900003, [700, 10, 20, 20], 1, checks.OUTSIDE_BOX),
    (900004, [math.nan, 10, 20, 20], 1, checks.NON_FINITE_BOX),
    (900005, [10, 10, math.inf, 20], 1, checks.NON_FINITE_BOX),
    (900006, [10, 10, 20], 1, checks.MALFORMED_BOX),
    (900007, [10, 10, 20, 20], 999, checks.UNKNOWN_CATEGORY),
]
PARTLY_OUTSIDE = (900008, [630, 10, 20, 20], 1)


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


@pytest.fixture
def bad_copy(shared_data, tmp_path) -> BadCopy:
    src = shared_data / 'tiny_coco'
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


def build(cfg: dict):
    from mmdet.registry import DATASETS
    return DATASETS.build(cfg)


# ------------------------------------------------------------------- skip policy
def test_skip_policy_counts_and_logs_every_problem(bad_copy, logs):
    ds = build(bad_copy.cfg())
    kinds = ds.report.error_counts()
    expected = {}
    for _, _, _, kind in BAD_BOXES:
        expected[kind] = expected.get(kind, 0) + 1
    assert dict(kinds) == expected
    assert ds.report.notes[checks.PARTLY_OUTSIDE_BOX] == 1
    assert ds.report.notes[checks.NO_BOXES] == 1
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


def test_png_named_jpg_is_decoded_by_content(bad_copy, shared_data):
    from mmcv.transforms import LoadImageFromFile
    path = bad_copy.path(bad_copy.png)
    raw = Path(path).read_bytes()
    assert checks.image_format(raw) == 'PNG' and checks.decode_problem(raw) is None
    img = LoadImageFromFile()(dict(img_path=path))['img']
    original = cv2.imread(str(shared_data / 'tiny_coco' / 'train2017' /
                              bad_copy.png['file_name']))
    assert img.shape == (bad_copy.png['height'], bad_copy.png['width'], 3)
    assert (img == original).all()  # PNG is lossless


def test_truncated_jpeg_caught_even_if_opencv_decodes_it(bad_copy, monkeypatch):
    import mmcv
    import numpy as np
    raw = Path(bad_copy.path(bad_copy.truncated)).read_bytes()
    # Some OpenCV builds return the decoded top part of a truncated JPEG.
    monkeypatch.setattr(mmcv, 'imfrombytes', lambda *a, **k: np.zeros((4, 4, 3), np.uint8))
    kind, detail = checks.decode_problem(raw)
    assert kind == checks.CORRUPT_IMAGE and 'truncated JPEG' in detail
    good = Path(bad_copy.path(bad_copy.good)).read_bytes()
    assert checks.decode_problem(good) is None


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


# ---------------------------------------------------- classes vs the model head
def test_consistency_check_names_numbers_and_keys():
    class Head:
        num_classes = 3

    class Model(torch.nn.Module):
        bbox_head = Head()

    class Data:
        metainfo = dict(classes=CheckedCocoDataset.METAINFO['classes'])

    with pytest.raises(DatasetModelMismatchError) as info:
        check_consistency(Model(), [('train_dataloader.dataset', Data())])
    msg = str(info.value)
    assert 'has 80 classes but model.bbox_head.num_classes = 3' in msg
    assert 'train_dataloader.dataset.metainfo' in msg
    Data.metainfo = dict(classes=('a', 'b', 'c'))
    check_consistency(Model(), [('train_dataloader.dataset', Data())])


def quickstart_cfg(repo_root: Path, copy: BadCopy, work_dir: Path) -> Config:
    cfg = Config.fromfile(repo_root / 'configs' / 'quickstart' / 'ssd160_shapes.py')
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(type='CheckedCocoDataset', data_root=str(copy.root),
                              ann_file='annotations/train.json',
                              data_prefix=dict(img='train2017/'))
    cfg.val_evaluator.update(type='CheckedCocoMetric', ann_file=str(copy.ann_file))
    cfg.test_evaluator = cfg.val_evaluator
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.pop('visualization')
    cfg.custom_hooks = [dict(type='DatasetModelConsistencyHook')]
    return cfg


def test_runner_stops_before_training_on_classes_mismatch(repo_root, bad_copy, tmp_path):
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    # The quickstart head has 3 classes; this dataset lists 7.
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].dataset.metainfo = dict(classes=CLASSES)
    runner = Runner.from_cfg(cfg)
    calls = []
    runner.model.train_step = lambda *a, **k: calls.append(1)
    with pytest.raises(DatasetModelMismatchError) as info:
        runner.train()
    assert 'train_dataloader.dataset has 7 classes but model.bbox_head.num_classes = 3' \
        in str(info.value)
    assert not calls  # raised before the first iteration


def test_ssd_trains_through_bad_data(repo_root, bad_copy, tmp_path, logs):
    """Real SSD160, two iterations over the bad copy and a validation: the
    truncated image is skipped, bad boxes never reach the loss or the metric."""
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    cfg.model.bbox_head.num_classes = len(CLASSES)
    for split in ('train', 'val'):
        cfg[f'{split}_dataloader'].dataset.metainfo = dict(classes=CLASSES)
    # 2 iterations of 2 = one shuffled pass over the 4 usable training images.
    cfg.train_cfg.update(max_iters=2, val_interval=100)
    cfg.default_hooks.checkpoint.update(interval=1000, save_last=False)
    cfg.custom_hooks.append(dict(type='NonFiniteLossHook'))
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert runner.train_dataloader.dataset.bad_sample_count >= 1
    assert any(bad_copy.truncated['file_name'] in m for _, m in logs if 'skipping' in m)
    # Validation ran at the end on the same bad file: CocoMetric would crash in
    # pycocotools on the 3-number bbox; CheckedCocoMetric left it out.
    assert 'val/coco/bbox_mAP' in runner.message_hub.log_scalars


def test_checked_metric_leaves_bad_ground_truth_out(bad_copy):
    from mmdet.registry import METRICS
    metric = METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file)))
    assert sum(metric.report.error_counts().values()) == len(BAD_BOXES)
    gt = metric._coco_api
    assert not {a for a, *_ in BAD_BOXES} & set(gt.anns)
    assert PARTLY_OUTSIDE[0] in gt.anns and all('area' in a for a in gt.anns.values())
    with pytest.raises(DataCheckError) as info:
        METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file),
                           on_bad_annotation='error'))
    assert 'annotation id 900006' in str(info.value)
    bad_copy.ann_file.write_text('not json')
    with pytest.raises(DataCheckError, match=f'{bad_copy.ann_file} is not valid JSON'):
        METRICS.build(dict(type='CheckedCocoMetric', ann_file=str(bad_copy.ann_file)))


# -------------------------------------------------------------------- bad config
HEAD = dict(type='MultiBoxHead', num_classes=3, in_channels=(8, 8),
            prior_generator=dict(type='PriorBoxGenerator', input_size=64,
                                 strides=[8, 16], ratios=[[2], [2]],
                                 min_sizes=[10, 20], max_sizes=[20, 40]))


def test_head_unknown_cfg_key_names_key_and_allowed():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(HEAD, train_cfg=dict(bogus=1)))
    msg = str(info.value)
    assert "['bogus']" in msg and 'pos_iou_thr' in msg and 'neg_pos_ratio' in msg
    with pytest.raises(KeyError, match='nms_thr'):
        MODELS.build(dict(HEAD, test_cfg=dict(nms_thr=0.5)))
    with pytest.raises(TypeError, match='num_classes must be an int'):
        MODELS.build(dict(HEAD, num_classes='3'))


@pytest.mark.parametrize('override, match', [
    (dict(ratios=[[-2], [2]]), 'ratios must be a positive number'),
    (dict(strides=[8]), 'strides has 1 levels but ratios has 2'),
    (dict(min_sizes=[10]), 'min_sizes has 1 levels'),
    (dict(offset=2), r'offset must be in \[0, 1\]'),
    (dict(min_sizes=None), 'needs either min_sizes or both scale_range and input_size'),
])
def test_prior_generator_bad_values(override, match):
    with pytest.raises(ValueError, match=match):
        TASK_UTILS.build(dict(HEAD['prior_generator'], **override))


def test_backbone_and_neck_bad_arguments():
    with pytest.raises(TypeError, match='bogus'):
        MODELS.build(dict(type='VGG16ReducedFC', bogus=1))
    with pytest.raises(ValueError, match='frozen_stages must be in'):
        MODELS.build(dict(type='VGG16ReducedFC', frozen_stages=9))
    with pytest.raises(ValueError, match='need as many level_strides and level_paddings'):
        MODELS.build(dict(type='SSDExtraLayers', level_strides=(2, 2, 1)))
    with pytest.raises(ValueError, match='must start with in_channels'):
        MODELS.build(dict(type='SSDExtraLayers', in_channels=(256, 1024)))


@pytest.mark.parametrize('dataset_type', ['CheckedCocoDataset', 'CocoDataset'])
def test_wrong_ann_file_in_config_names_the_path(repo_root, bad_copy, tmp_path,
                                                 dataset_type):
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    cfg.train_dataloader.dataset.update(type=dataset_type, ann_file='annotations/nope.json')
    with pytest.raises(FileNotFoundError) as info:
        Runner.build_dataloader(cfg.train_dataloader)
    assert str(bad_copy.root / 'annotations' / 'nope.json') in str(info.value)


# ------------------------------------------------------------- check_dataset.py
def write_tool_config(repo_root: Path, copy: BadCopy, tmp_path: Path) -> Path:
    config = tmp_path / 'check_cfg.py'
    config.write_text(
        f"_base_ = {str(repo_root / 'configs' / 'quickstart' / 'ssd160_shapes.py')!r}\n"
        f"train_dataloader = dict(dataset=dict(type='CheckedCocoDataset', "
        f"data_root={str(copy.root) + '/'!r}, ann_file='annotations/train.json', "
        f"data_prefix=dict(img='train2017/'), metainfo=dict(classes={CLASSES!r})))\n")
    return config


def test_check_dataset_reports_every_problem_in_one_pass(repo_root, bad_copy, tmp_path):
    config = write_tool_config(repo_root, bad_copy, tmp_path)
    proc = subprocess.run([sys.executable, str(repo_root / 'tools' / 'analysis' /
                                               'check_dataset.py'), str(config),
                           '--workers', '1'],
                          capture_output=True, text=True, cwd=repo_root, timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    for kind, count in [(checks.NON_POSITIVE_BOX, 2), (checks.NON_FINITE_BOX, 2),
                        (checks.OUTSIDE_BOX, 1), (checks.MALFORMED_BOX, 1),
                        (checks.UNKNOWN_CATEGORY, 1), (checks.MISSING_IMAGE, 1),
                        (checks.CORRUPT_IMAGE, 1), (checks.PARTLY_OUTSIDE_BOX, 1),
                        (checks.NO_BOXES, 1)]:
        assert f'  {kind}: {count}\n' in out, (kind, out)
    assert 'number of classes differs from the model: 1' in out
    assert 'has 7 classes but model.bbox_head.num_classes = 3' in out
    assert 'image content is not the format of its extension' in out
    assert f'{bad_copy.png["file_name"]}' in out and 'PNG data' in out
    assert bad_copy.missing['file_name'] in out and 'annotation id 900004' in out
    assert checks.UNLISTED_CATEGORY in out
    assert 'summary: 10 error(s) of 8 kind(s)' in out
    assert 'RESULT: FAILED (10 error(s))' in out


def test_check_dataset_clean_and_unusable_files(repo_root, shared_data, tmp_path,
                                                bad_copy, capsys):
    sys.path.insert(0, str(repo_root / 'tools' / 'analysis'))
    try:
        import check_dataset
    finally:
        sys.path.pop(0)
    config = tmp_path / 'clean.py'
    config.write_text(
        f"_base_ = {str(repo_root / 'configs' / 'quickstart' / 'ssd160_shapes.py')!r}\n"
        f"model = dict(bbox_head=dict(num_classes=80))\n"
        f"train_dataloader = dict(dataset=dict(data_root="
        f"{str(shared_data / 'tiny_coco') + '/'!r}, "
        f"ann_file='annotations/instances_train2017.json', "
        f"data_prefix=dict(img='train2017/'), metainfo=None))\n")
    assert check_dataset.main([str(config), '--no-decode']) == 0
    assert 'RESULT: OK' in capsys.readouterr().out
    bad_copy.ann_file.write_text('')
    config = write_tool_config(repo_root, bad_copy, tmp_path)
    assert check_dataset.main([str(config)]) == 1
    out = capsys.readouterr().out
    assert 'annotation file unusable' in out and f'{bad_copy.ann_file} is empty' in out
