"""SSD300 learns on real images: proof that matching, the loss, decoding, NMS and
evaluation fit together.

Eight BCCD training images are fitted from scratch for 60 iterations on the CPU
(bf16) with ``tools/train.py``; ``tools/test.py`` then evaluates the checkpoint
on the same images and AP50 must clear 0.5 (chance is about 0). The same
checkpoint evaluated in fp32 and with the fast path (bf16 autocast +
channels_last + compiled network) must agree within half an AP point.
"""
import json
import os
import subprocess
import sys

from conftest import coco_subset

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


def test_ssd300_fits_eight_bccd_images(bccd_coco, repo_root, tmp_path):
    coco_subset(bccd_coco / 'annotations' / 'train.json',
                bccd_coco / 'annotations' / 'train8.json', 8)
    config = tmp_path / 'ssd300_bccd8.py'
    config.write_text(CONFIG.format(base=str(repo_root / 'configs/bccd/ssd300_bccd.py'),
                                    ann='annotations/train8.json',
                                    data_root=f'{bccd_coco}/', iters=ITERS))
    work_dir = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count() or 1))

    def run(tool, *args):
        proc = subprocess.run([sys.executable, str(repo_root / tool), str(config), *args],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-5000:]
        return proc.stdout

    run('tools/train.py', '--amp', '--work-dir', str(work_dir), '--cfg-options',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None')
    checkpoint = str(work_dir / f'iter_{ITERS}.pth')
    metrics = {}
    for name, flags in (('fp32', []), ('fast', ['--amp', '--channels-last', '--compile'])):
        out = run('tools/test.py', checkpoint, '--work-dir', str(work_dir / name), *flags)
        assert '| Model | AP | AP50 |' in out
        metrics[name] = json.loads((work_dir / name / 'metrics.json').read_text())
    print(f"AP50 fp32 {metrics['fp32']['coco/bbox_mAP_50']:.3f}, "
          f"bf16+channels_last+compile {metrics['fast']['coco/bbox_mAP_50']:.3f}")
    assert metrics['fp32']['coco/bbox_mAP_50'] >= 0.5, metrics
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        # metrics come rounded to 0.001: exactly half a point apart is within
        assert abs(metrics['fast'][key] - metrics['fp32'][key]) <= 0.005 + 1e-9, metrics
