"""SSD300 learns on real images: proof that matching, the loss, decoding, NMS and
evaluation fit together.

Eight BCCD training images are fitted from scratch for 60 iterations on the CPU
with ``tools/train.py --amp`` (bf16 where the CPU runs it natively, fp32
elsewhere); ``tools/test.py`` then evaluates the checkpoint on the same images
and AP50 must clear 0.5 (chance is about 0). On a CPU with native bf16 the same
checkpoint evaluated with the fast path (bf16 autocast + channels_last +
compiled network) must agree with fp32 within half an AP point.
"""
import json
import os
import sys

import pytest
from conftest import REPO_ROOT, coco_subset, run_tool

from ssd_ext.engine.precision import cpu_has_native_bf16

ITERS = 60
CONFIG = '''
_base_ = {base!r}
ann = {ann!r}
data_root = {data_root!r}
# Fitting a handful of images: only flip, no photometric distortion or crops.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(300, 300), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=1, dataset=dict(
    data_root=data_root, ann_file=ann, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root, ann_file=ann))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + ann)
test_evaluator = val_evaluator
train_cfg = dict(max_iters={iters}, val_interval={iters})
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end={iters}, eta_min=1e-5),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval={iters}))
randomness = dict(seed=0)
'''


def run(tool: str, config, *args, cwd) -> str:
    """``tools/TOOL CONFIG ARGS`` on all cores; SSD300 training in fp32 on a slow
    AVX2-only CPU takes minutes, hence the long timeout."""
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count() or 1))
    return run_tool([sys.executable, str(REPO_ROOT / tool), str(config), *args], env, cwd,
                    timeout=1500)


def evaluate(config, checkpoint, work_dir, *flags) -> dict:
    out = run('tools/test.py', config, checkpoint, '--work-dir', str(work_dir), *flags,
                   cwd=work_dir.parent)
    assert '| Model | AP | AP50 |' in out
    return json.loads((work_dir / 'metrics.json').read_text())


@pytest.fixture(scope='module')
def fitted(bccd_coco, tmp_path_factory):
    """(config, checkpoint, fp32 metrics) of SSD300 fitted to 8 BCCD images."""
    tmp_path = tmp_path_factory.mktemp('learning')
    coco_subset(bccd_coco / 'annotations' / 'train.json',
                bccd_coco / 'annotations' / 'train8.json', 8)
    config = tmp_path / 'ssd300_bccd8.py'
    config.write_text(CONFIG.format(base=str(REPO_ROOT / 'configs/bccd/ssd300_bccd.py'),
                                    ann='annotations/train8.json',
                                    data_root=f'{bccd_coco}/', iters=ITERS))
    work_dir = tmp_path / 'work'
    run('tools/train.py', config, '--amp', '--work-dir', str(work_dir), '--cfg-options',
             'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', cwd=tmp_path)
    checkpoint = str(work_dir / f'iter_{ITERS}.pth')
    return config, checkpoint, evaluate(config, checkpoint, work_dir / 'fp32')


def test_ssd300_fits_eight_bccd_images(fitted):
    _, _, metrics = fitted
    print(f"AP50 fp32 {metrics['coco/bbox_mAP_50']:.3f}")
    assert metrics['coco/bbox_mAP_50'] >= 0.5, metrics


@pytest.mark.skipif(not cpu_has_native_bf16(),
                    reason='bf16 fast path: this CPU has no native bf16 (AMX or AVX512-BF16)')
def test_bf16_fast_path_keeps_the_fp32_ap(fitted, tmp_path):
    config, checkpoint, fp32 = fitted
    fast = evaluate(config, checkpoint, tmp_path / 'fast', '--amp', '--amp-dtype', 'bfloat16',
                    '--channels-last', '--compile')
    print(f"AP50 fp32 {fp32['coco/bbox_mAP_50']:.3f}, "
          f"bf16+channels_last+compile {fast['coco/bbox_mAP_50']:.3f}")
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        # metrics come rounded to 0.001: exactly half a point apart is within
        assert abs(fast[key] - fp32[key]) <= 0.005 + 1e-9, (fast, fp32)
