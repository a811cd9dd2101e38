"""Every config loads and builds; the paper's variants differ only where they should."""
import copy
import subprocess
import sys
import uuid
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner import Runner
from torch import nn

import ssd_ext  # noqa: F401  (registers modules)
from mmdet.registry import DATASETS, MODELS
from conftest import load_script

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / 'configs'
CONFIGS = sorted(p.relative_to(CONFIG_DIR).as_posix()
                 for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)
# Config -> (input size, priors): SSD300 has 38^2*4 + 19^2*6 + 10^2*6 + 5^2*6
# + 3^2*4 + 4 = 8732 priors, SSD512 24564.
PRIOR_COUNTS = {
    'ssd300.py': (300, 8732),
    'ssd300_expand_aug.py': (300, 8732),
    'ssd300_voc0712.py': (300, 8732),
    'ssd512.py': (512, 24564),
    'ssd512_expand_aug.py': (512, 24564),
}
STAR_VARIANTS = [('ssd300_expand_aug.py', 'ssd300.py'),
                 ('ssd512_expand_aug.py', 'ssd512.py')]


@lru_cache(maxsize=None)
def _load(name: str) -> Config:
    return Config.fromfile(str(CONFIG_DIR / name))


def load(name: str) -> Config:
    return copy.deepcopy(_load(name))


@lru_cache(maxsize=None)
def _model(name: str) -> nn.Module:
    return MODELS.build(load(name).model)


def test_config_list_is_complete():
    assert {'ssd300.py', 'ssd512.py', 'ssd300_expand_aug.py', 'ssd512_expand_aug.py',
            'ssd300_voc0712.py'} <= set(CONFIGS)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_loads_and_builds(name):
    cfg = load(name)
    model = _model(name)
    assert model.bbox_head.num_classes == cfg.model.bbox_head.num_classes
    # Pipelines are built by the datasets; building them here checks every
    # transform's arguments without any data.
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        for sub in dataset.get('datasets', [dataset]):
            Compose(sub.pipeline)


@pytest.mark.parametrize('name', sorted(PRIOR_COUNTS))
def test_prior_count_from_forward(name):
    size, expected = PRIOR_COUNTS[name]
    # The real modules run on the meta device: shapes only, no arithmetic.
    model = copy.deepcopy(_model(name)).to('meta').eval()
    with torch.no_grad():
        feats = model.neck(model.backbone(torch.empty(1, 3, size, size, device='meta')))
    gen = model.bbox_head.prior_generator
    assert len(feats) == gen.num_levels
    priors = gen.grid_priors([f.shape[-2:] for f in feats])
    assert priors.shape == (expected, 4)
    head_priors = sum(f.shape[-2] * f.shape[-1] * n
                      for f, n in zip(feats, gen.num_base_priors))
    assert head_priors == expected


def _without_expand(cfg_dict: dict) -> dict:
    cfg_dict = copy.deepcopy(cfg_dict)
    for pipeline in (cfg_dict['train_pipeline'],
                     cfg_dict['train_dataloader']['dataset']['pipeline']):
        geometry = [t for t in pipeline if t['type'] == 'SSDRandomGeometry']
        assert len(geometry) == 1
        geometry[0]['expand'] = None
    return cfg_dict


@pytest.mark.parametrize('star,plain', STAR_VARIANTS)
def test_star_differs_only_by_expand(star, plain):
    star_dict, plain_dict = load(star).to_dict(), load(plain).to_dict()
    pipeline = star_dict['train_dataloader']['dataset']['pipeline']
    geometry = next(t for t in pipeline if t['type'] == 'SSDRandomGeometry')
    # MMDetection's convention: the data preprocessor's RGB mean with to_rgb=True
    # (reversed for the BGR image).
    expand = geometry['expand']
    assert expand['mean'] == plain_dict['model']['data_preprocessor']['mean']
    assert expand['to_rgb'] is True
    assert tuple(expand['ratio_range']) == (1, 4)
    assert expand['prob'] == 0.5
    assert _without_expand(star_dict) == plain_dict


@pytest.mark.parametrize('star,plain', STAR_VARIANTS)
def test_expand_fills_with_the_bgr_mean(star, plain):
    """The fill becomes zero after the data preprocessor's BGR->RGB and mean
    (up to 8-bit rounding), and the photometric distortion leaves it alone."""
    from mmdet.registry import TRANSFORMS
    cfg = load(star)
    types = [t.type for t in cfg.train_pipeline]
    i = types.index('SSDRandomGeometry')
    assert types[i + 1] == 'SSDPhotometricDistortion'
    geometry = TRANSFORMS.build(dict(cfg.train_pipeline[i], min_ious=(), flip_prob=0.0,
                                     expand=dict(cfg.train_pipeline[i].expand, prob=1.0,
                                                 ratio_range=(3, 3))))
    distort = TRANSFORMS.build(cfg.train_pipeline[i + 1])
    size = geometry.size
    w, h = size[0] // 3, size[1] // 3
    np.random.seed(0)
    while True:  # until the crop mode is 'no crop' (1 in 2 with min_ious=())
        out = geometry(dict(img=np.full((h, w, 3), 7, np.uint8),
                            gt_bboxes=np.array([[1., 2., 5., 6.]], np.float32)))
        if out['scale_factor'] == (size[0] / (3 * w), size[1] / (3 * h)):
            break
    for _ in range(8):
        canvas = distort(dict(out, img=out['img'].copy()))['img']
        x1, y1, x2, y2 = out['ssd_image_region']
        assert (x2 - x1, y2 - y1) == (round(size[0] / 3), round(size[1] / 3))
        outside = np.ones(canvas.shape[:2], dtype=bool)
        # the one-pixel band around the image blends both (bilinear resampling)
        outside[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1] = False
        rgb = canvas[outside][:, ::-1].astype(np.float32)  # what bgr_to_rgb hands the model
        mean = np.array(cfg.model.data_preprocessor.mean, dtype=np.float32)
        assert np.abs(rgb - mean).max() <= 0.5


def test_ssd300_schedule():
    cfg = load('ssd300.py')
    assert cfg.train_cfg.type == 'FastResumeIterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 240000
    multistep = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert len(multistep) == 1
    assert multistep[0].milestones == [160000, 200000]
    assert multistep[0].gamma == 0.1
    assert multistep[0].end == 240000
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 1e-3, 0.9, 5e-4)
    # 4 per GPU x 8 GPUs is the batch the lr is set for.
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.auto_scale_lr.base_batch_size == 4 * 8 == 32
    assert cfg.default_hooks.checkpoint.interval == 10000
    assert cfg.default_hooks.checkpoint.by_epoch is False


@pytest.mark.parametrize('name', CONFIGS)
def test_iteration_configs_use_infinite_sampler(name):
    cfg = load(name)
    assert cfg.train_cfg.type == 'FastResumeIterBasedTrainLoop'
    assert cfg.train_dataloader.sampler.type == 'ResumableInfiniteSampler'
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    for sched in cfg.param_scheduler:
        assert sched.get('by_epoch', True) is False
    assert cfg.log_processor.by_epoch is False


def test_voc0712():
    cfg = load('ssd300_voc0712.py')
    assert cfg.model.bbox_head.num_classes == 20
    model = _model('ssd300_voc0712.py')
    assert model.bbox_head.num_classes == 20
    gen = model.bbox_head.prior_generator
    assert gen.min_sizes == [30, 60, 111, 162, 213, 264]
    assert gen.max_sizes == [60, 111, 162, 213, 264, 315]
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.to_dict() == dict(type='ClasswiseVOCMetric', metric='mAP',
                                           eval_mode='11points')
    # Shorter VOC schedule: 40k + 10k + 10k iterations.
    assert cfg.train_cfg.max_iters == 60000
    assert cfg.train_cfg.val_interval == 10000
    multistep = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert multistep[0].milestones == [40000, 50000]
    assert multistep[0].end == 60000
    # The paper's augmentation, unchanged.
    assert cfg.train_pipeline == load('ssd300.py').train_pipeline


def test_voc0712_datasets_accept_their_args():
    """07+12 trainval and 07 test build as checked VOC datasets (lazily: no files)."""
    from mmdet.datasets import VOCDataset
    cfg = load('ssd300_voc0712.py')
    train = copy.deepcopy(cfg.train_dataloader.dataset)
    assert train.type == 'ConcatDataset'
    for sub in train.datasets:
        sub.lazy_init = True
    train.lazy_init = True
    train_set = DATASETS.build(train)
    assert all(type(d).__name__ == 'CheckedVOCDataset' and isinstance(d, VOCDataset)
               for d in train_set.datasets)
    years = [d.metainfo['dataset_type'] for d in train_set.datasets]
    assert years == ['VOC2007', 'VOC2012']
    assert [Path(d.ann_file).as_posix() for d in train_set.datasets] == [
        'data/VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
        'data/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt']
    assert len(train_set.metainfo['classes']) == 20
    for d in train_set.datasets:
        assert d.filter_cfg.get('bbox_min_size') is None  # small boxes stay
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        test = copy.deepcopy(loader.dataset)
        test.lazy_init = True
        test_set = DATASETS.build(test)
        assert test_set.metainfo['dataset_type'] == 'VOC2007'
        assert test_set.test_mode
        assert Path(test_set.ann_file).as_posix() == \
            'data/VOCdevkit/VOC2007/ImageSets/Main/test.txt'


def _load_train_script():
    return load_script(REPO / 'tools' / 'train.py')


def _cfg_from_train_script(monkeypatch, tmp_path, *flags) -> Config:
    """Runs tools/train.py's main() up to the runner and returns its config."""
    train = _load_train_script()
    captured = {}

    class _NoTraining:
        def train(self):
            captured['trained'] = True

    def fake_build_runner(cfg, amp=False, training=True, channels_last=False,
                          amp_dtype='auto'):
        captured['cfg'] = cfg
        return _NoTraining()

    monkeypatch.setattr(train, 'build_runner', fake_build_runner)
    monkeypatch.setattr(sys, 'argv', [
        'train.py', str(CONFIG_DIR / 'ssd300.py'), '--work-dir', str(tmp_path),
        '--cfg-options', 'train_dataloader.batch_size=2', *flags])
    train.main()
    assert captured['trained']
    return captured['cfg']


class _TinyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


def _effective_lr(cfg: Config, tmp_path) -> float:
    """Optimizer lr after MMEngine's Runner builds and scales it, as in train()."""
    runner = Runner(
        model=_TinyModel(), work_dir=str(tmp_path),
        experiment_name=f'test_configs_{uuid.uuid4().hex}',
        train_dataloader=cfg.train_dataloader, train_cfg=cfg.train_cfg,
        optim_wrapper=cfg.optim_wrapper, param_scheduler=cfg.param_scheduler,
        auto_scale_lr=cfg.auto_scale_lr, default_scope='mmdet')
    assert runner.world_size == 1
    # What Runner.train() does before building the schedulers (which would need
    # the dataset): build the optimizer, then scale its lr.
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(runner.optim_wrapper, runner.auto_scale_lr)
    return runner.optim_wrapper.optimizer.param_groups[0]['lr']


def test_auto_scale_lr_scales_with_total_batch(monkeypatch, tmp_path):
    cfg = _cfg_from_train_script(monkeypatch, tmp_path, '--auto-scale-lr')
    assert cfg.auto_scale_lr.enable is True
    assert cfg.auto_scale_lr.base_batch_size == 32
    assert cfg.train_dataloader.batch_size == 2
    # 1 process x 2 images against the paper's 32.
    assert _effective_lr(cfg, tmp_path / 'scaled') == pytest.approx(1e-3 * 2 / 32)


def test_without_auto_scale_lr_the_lr_is_the_configs(monkeypatch, tmp_path):
    cfg = _cfg_from_train_script(monkeypatch, tmp_path)
    assert cfg.auto_scale_lr.enable is False
    assert _effective_lr(cfg, tmp_path / 'plain') == pytest.approx(1e-3)


def test_train_script_has_auto_scale_lr_flag():
    out = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), '--help'],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert '--auto-scale-lr' in out.stdout
