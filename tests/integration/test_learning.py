"""SSD300 learns on real images: proof that matching, the loss, decoding, NMS and
evaluation fit together.

Eight BCCD training images are fitted from scratch for 60 iterations on the CPU
(``tests/configs/ssd300_bccd8.py``) with ``tools/train.py --amp`` (bf16 where
the CPU runs it natively, fp32 elsewhere); ``tools/test.py --show-dir`` then evaluates the
checkpoint on the same images and AP50 must clear 0.5 (chance is about 0). On a
CPU with native bf16 the same checkpoint evaluated with the fast path (bf16
autocast + channels_last + compiled network) must agree with fp32 within half an
AP point.
"""
import json
import os
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, coco_subset, run_tool
from mmengine.config import Config

from ssd_ext.utils.machine import cpu_has_native_bf16

CONFIG = REPO_ROOT / 'tests' / 'configs' / 'ssd300_bccd8.py'


def run(tool: str, *args, cwd) -> str:
    """``tools/TOOL CONFIG ARGS`` on all cores, from ``cwd`` (the folder holding
    ``data/bccd``); SSD300 training in fp32 on a slow AVX2-only CPU takes
    minutes, hence the long timeout."""
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count() or 1))
    return run_tool([sys.executable, str(REPO_ROOT / tool), str(CONFIG), *args], env, cwd,
                    timeout=1500)


def evaluate(root, checkpoint, work_dir, *flags) -> dict:
    out = run('tools/test.py', checkpoint, '--work-dir', str(work_dir), *flags, cwd=root)
    assert '| Model | AP | AP50 |' in out
    return json.loads((work_dir / 'metrics.json').read_text())


@pytest.fixture(scope='module')
def fitted(bccd_coco, tmp_path_factory):
    """(run folder, checkpoint, fp32 metrics) of SSD300 fitted to 8 BCCD images;
    the run folder holds ``data/bccd``, where the config finds the images."""
    root = tmp_path_factory.mktemp('learning')
    coco_subset(bccd_coco / 'annotations' / 'train.json',
                bccd_coco / 'annotations' / 'train8.json', 8)
    (root / 'data').mkdir()
    (root / 'data' / 'bccd').symlink_to(bccd_coco, target_is_directory=True)
    work_dir = root / 'work'
    run('tools/train.py', '--amp', '--work-dir', str(work_dir), '--cfg-options',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None', cwd=root)
    iters = Config.fromfile(str(CONFIG)).train_cfg.max_iters
    checkpoint = str(work_dir / f'iter_{iters}.pth')
    return root, checkpoint, evaluate(root, checkpoint, work_dir / 'fp32',
                                      '--show-dir', str(work_dir / 'drawn'))


def test_ssd300_fits_eight_bccd_images(fitted):
    _, _, metrics = fitted
    print(f"AP50 fp32 {metrics['coco/bbox_mAP_50']:.3f}")
    assert metrics['coco/bbox_mAP_50'] >= 0.5, metrics


def test_show_dir_draws_every_test_image(fitted):
    root, _, _ = fitted
    test_images = json.loads((root / 'data' / 'bccd' / 'annotations' / 'train8.json')
                             .read_text())['images']
    drawn = sorted(p.name for p in (root / 'work' / 'drawn').iterdir())
    assert drawn == sorted(Path(img['file_name']).name for img in test_images)


def test_show_dir_without_a_visualization_hook_names_the_key(fitted, tmp_path):
    root, checkpoint, _ = fitted
    with pytest.raises(AssertionError, match='--show-dir draws through default_hooks'):
        run('tools/test.py', checkpoint, '--work-dir', str(tmp_path), '--show-dir',
            str(tmp_path / 'drawn'), '--cfg-options', 'default_hooks.visualization=None',
            cwd=root)


@pytest.mark.skipif(not cpu_has_native_bf16(),
                    reason='bf16 fast path: this CPU has no native bf16 (AMX or AVX512-BF16)')
def test_bf16_fast_path_keeps_the_fp32_ap(fitted, tmp_path):
    root, checkpoint, fp32 = fitted
    fast = evaluate(root, checkpoint, tmp_path / 'fast', '--amp', '--amp-dtype', 'bfloat16',
                    '--channels-last', '--compile')
    print(f"AP50 fp32 {fp32['coco/bbox_mAP_50']:.3f}, "
          f"bf16+channels_last+compile {fast['coco/bbox_mAP_50']:.3f}")
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        # metrics come rounded to 0.001: exactly half a point apart is within
        assert abs(fast[key] - fp32[key]) <= 0.005 + 1e-9, (fast, fp32)
