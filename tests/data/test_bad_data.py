"""Bad data and bad config at the run's level: a run stops before training on a
classes mismatch, trains through bad data, and a wrong annotation path is named.
The data is the injected copy of ``faulty_coco``; the checks themselves are
tested in ``test_checked_coco.py``, ``test_class_consistency.py``
and the model modules' tests.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from ssd_ext.data.class_consistency import DatasetModelMismatchError
from ssd_testkit.faulty_coco import CLASSES, BadCopy, bad_copy  # noqa: F401  (fixture)


# ---------------------------------------------------- classes vs the model head
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


@pytest.mark.parametrize('split, step', [('train', 'train_step'), ('test', 'test_step')])
def test_runner_stops_before_the_first_step_on_classes_mismatch(repo_root, bad_copy,
                                                                 tmp_path, split, step):
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    # The quickstart head has 3 classes; these datasets list 7.
    for name in ('train', 'val', 'test'):
        cfg[f'{name}_dataloader'].dataset.metainfo = dict(classes=CLASSES)
    runner = Runner.from_cfg(cfg)
    calls = []
    setattr(runner.model, step, lambda *a, **k: calls.append(1))
    with pytest.raises(DatasetModelMismatchError) as info:
        getattr(runner, split)()  # runner.train() or runner.test()
    assert f'{split}_dataloader.dataset has 7 classes but model.bbox_head.num_classes = 3' \
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


@pytest.mark.parametrize('dataset_type', ['CheckedCocoDataset', 'CocoDataset'])
def test_wrong_ann_file_in_config_names_the_path(repo_root, bad_copy, tmp_path,
                                                 dataset_type):
    cfg = quickstart_cfg(repo_root, bad_copy, tmp_path / 'work')
    cfg.train_dataloader.dataset.update(type=dataset_type, ann_file='annotations/nope.json')
    with pytest.raises(FileNotFoundError) as info:
        Runner.build_dataloader(cfg.train_dataloader)
    assert str(bad_copy.root / 'annotations' / 'nope.json') in str(info.value)
