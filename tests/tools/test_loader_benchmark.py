"""tools/analysis/loader_benchmark.py drains a config's real train loader."""
import re
import sys

from conftest import REPO_ROOT, run_tool, tool_env


def test_loader_benchmark_prints_a_rate_per_worker_count(shared_data, tmp_path):
    out = run_tool(
        [sys.executable, 'tools/analysis/loader_benchmark.py', 'configs/ssd300.py', '--workers', '0,1',
         '--batches', '2', '--warmup', '1', '--per-transform', '2', '--cfg-options',
         f'train_dataloader.dataset.data_root={shared_data}/tiny_coco/'],
        tool_env(tmp_path), REPO_ROOT, timeout=300)
    assert re.search(r"CPUs for 1 process\(es\); 'auto' = \d+ workers", out)
    rates = re.findall(r'^\s+(\d+)\s+([\d.]+)$', out, re.M)
    assert [w for w, _ in rates] == ['0', '1'], out[-2000:]
    assert all(float(r) > 0 for _, r in rates)
    steps = re.findall(r'^\s+(\w+)\s+([\d.]+) ms$', out, re.M)
    assert [name for name, _ in steps] == [
        'LoadImageFromFile', 'LoadAnnotations', 'SSDRandomGeometry',
        'SSDPhotometricDistortion', 'PackDetInputs'], out[-2000:]
