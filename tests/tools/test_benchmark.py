"""tools/analysis/benchmark.py runs every part and prints both models' figures."""
import re
import subprocess
import sys

import pytest


def test_benchmark_prints_every_part(repo_root, shared_data):
    images = shared_data / 'bccd' / 'JPEGImages'
    proc = subprocess.run(
        [sys.executable, str(repo_root / 'tools/analysis/benchmark.py'),
         str(repo_root / 'configs/ssd300.py'), '--batch', '1', '--loss-batch', '2',
         '--iters', '1', '--warmup', '0', '--threads', '1', '--images', str(images),
         '--peak-tflops', '100'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ssd_ext weights: MMDetection's, converted" in proc.stdout
    check_rows(proc.stdout, ('infer', 'train', 'loss', 'data'))
    check_train_flops(proc.stdout, peak=100)


def check_rows(stdout: str, parts) -> None:
    """Each of ``parts`` has a row of positive figures: ssd_ext's, mmdet's, the speed-up."""
    for part in parts:
        match = re.search(rf'^{part}\s+([\d.]+)\s+([\d.]+)\s+\S+\s+([\d.]+)x$', stdout, re.M)
        assert match, (part, stdout[-2000:])
        assert all(float(v) > 0 for v in match.groups())


def check_train_flops(stdout: str, peak: float) -> None:
    """The train FLOP lines of SSD300: about 206 GFLOP per training image (forward
    69, backward twice that), whatever the dtype, and the MFU that the achieved
    TFLOP/s is of ``peak``."""
    for name in ('ssd_ext', 'mmdet'):
        flops = re.search(rf'^train {name}: ([\d.]+) GFLOP/img, ([\d.]+) TFLOP/s, '
                          rf'MFU ([\d.]+)% of {peak:g}$', stdout, re.M)
        assert flops, stdout[-2000:]
        gflop, achieved, mfu = map(float, flops.groups())
        assert 200 < gflop < 212
        assert mfu == pytest.approx(100 * achieved / peak, abs=0.06)


def test_benchmark_other_architectures_keep_their_own_weights(repo_root):
    proc = subprocess.run(
        [sys.executable, str(repo_root / 'tools/analysis/benchmark.py'),
         str(repo_root / 'configs/ssd300_voc0712.py'), '--parts', 'loss',
         '--loss-batch', '2', '--iters', '1', '--warmup', '0', '--threads', '1'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ssd_ext weights: ssd_ext's own random init" in proc.stdout
    assert re.search(r'^loss\s+[\d.]+\s+[\d.]+\s+s\s+[\d.]+x$', proc.stdout, re.M)


def test_benchmark_refuses_sizes_mmdetection_does_not_have(repo_root):
    proc = subprocess.run(
        [sys.executable, str(repo_root / 'tools/analysis/benchmark.py'),
         str(repo_root / 'configs/quickstart/ssd160_shapes.py')],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode != 0
    assert 'ssd160_shapes.py: input size 160' in proc.stdout
