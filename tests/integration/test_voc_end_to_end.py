"""Pascal VOC end to end on real images: ``tools/train.py``, ``tools/test.py``,
``tools/dist_test.sh`` (2 CPU processes) and ``tools/analysis/plot_curves.py``
with ``tests/configs/ssd300_voc0712_bccd.py`` (inherits ``configs/ssd300_voc0712.py``).

BCCD stands in for VOC: ``data/VOCdevkit/VOC2007`` is BCCD itself (trainval 292
images, test 72) and ``VOC2012`` a second layout of the same images whose
trainval is BCCD's val split (87 images), so the 07+12 concatenation, the
VOC2007 test set and the 11-point metric run as the paper's config has them.
The runs work from the folder holding ``data/``, as the README's layout says.
"""
import json
import sys
from pathlib import Path

import pytest
from conftest import run_tool, tool_env

CONFIG = 'tests/configs/ssd300_voc0712_bccd.py'
VOC_CAPTION = 'Pascal VOC mAP, 11-point interpolated AP (VOC2007):'
VOC_HEADER = '| Model | IoU | mAP | RBC | WBC | Platelets |'
NUM_PROCS = 2


@pytest.fixture(scope='module')
def voc_root(shared_data, tmp_path_factory) -> Path:
    """Folder with ``data/VOCdevkit/{VOC2007,VOC2012}`` made of links to BCCD."""
    bccd = shared_data / 'bccd'
    root = tmp_path_factory.mktemp('voc')
    devkit = root / 'data' / 'VOCdevkit'
    devkit.mkdir(parents=True)
    (devkit / 'VOC2007').symlink_to(bccd, target_is_directory=True)
    voc12 = devkit / 'VOC2012'
    (voc12 / 'ImageSets' / 'Main').mkdir(parents=True)
    for sub in ('Annotations', 'JPEGImages'):
        (voc12 / sub).symlink_to(bccd / sub, target_is_directory=True)
    split = (bccd / 'ImageSets' / 'Main' / 'val.txt').read_text()
    (voc12 / 'ImageSets' / 'Main' / 'trainval.txt').write_text(split)
    return root


def test_train_test_and_dist_test_print_the_same_voc_table(voc_root, repo_root):
    cfg = str(repo_root / CONFIG)
    env = tool_env(voc_root)
    out = run_tool([sys.executable, str(repo_root / 'tools/train.py'), cfg,
                    '--work-dir', 'train', '--amp'], env, cwd=voc_root)
    assert 'Iter(train) [4/4]' in out, out[-3000:]
    # Both halves of 07+12 loaded through the checks; BCCD's two zero-area boxes
    # (BloodImage_00338 in both trainval splits, 00343 in VOC2007's) are
    # counted skips, logged as warnings.
    voc07 = 'data/VOCdevkit/VOC2007/ImageSets/Main/trainval.txt): 292 of 292 images'
    voc12 = 'data/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt): 87 of 87 images'
    for split, skipped in ((voc07, 2), (voc12, 1)):
        line = next((line for line in out.splitlines() if split in line), '')
        assert 'WARNING' in line, out[-6000:]
        assert f'skipped bad annotations: {skipped} zero or negative box size' in line
    assert 'VOC2007/Annotations/BloodImage_00343.xml object 4' in out
    assert 'VOC2007/ImageSets/Main/test.txt): 72 of 72 images' in out
    assert 'pascal_voc/AP50_Platelets' in out  # validated at the last iteration
    ckpt = str(voc_root / 'train' / 'iter_4.pth')

    out = run_tool([sys.executable, str(repo_root / 'tools/test.py'), cfg, ckpt,
                    '--work-dir', 'single'], env, cwd=voc_root)
    assert f'{VOC_CAPTION}\n{VOC_HEADER}' in out, out[-3000:]
    assert 'Iter(test) [72/72]' in out
    out = run_tool([str(repo_root / 'tools/dist_test.sh'), cfg, ckpt, str(NUM_PROCS),
                    '--work-dir', 'dist'], env, cwd=voc_root)
    assert out.count(VOC_HEADER) == 1, 'only rank 0 prints the table\n' + out[-3000:]
    assert 'Iter(test) [36/36]' in out  # each rank half of the 72 images

    single = json.loads((voc_root / 'single' / 'metrics.json').read_text())
    dist = json.loads((voc_root / 'dist' / 'metrics.json').read_text())
    assert sorted(single) == sorted(
        f'pascal_voc/{k}' for k in ('mAP', 'AP50', 'AP50_RBC', 'AP50_WBC', 'AP50_Platelets'))
    assert dist == pytest.approx(single, abs=1e-6)
    # Not all zero: some of the few-iteration model's boxes match RBCs.
    assert single['pascal_voc/AP50_RBC'] > 0

    out = run_tool([sys.executable, str(repo_root / 'tools/analysis/plot_curves.py'),
                    'train', '--out', 'curves.png'], env, cwd=voc_root)
    assert 'pascal_voc/mAP [val]: 1 points, iterations 4-4' in out, out
    assert 'loss [train]: 4 points' in out
    assert (voc_root / 'curves.png').stat().st_size > 10_000
