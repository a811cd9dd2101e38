"""The engine and probe tests again as an AVX2-only CPU (AMD Zen 2/3, Intel
client parts) runs them, on a machine with AVX-512: ATen's kernels capped by
``ATEN_CPU_CAPABILITY=avx2``, oneDNN's (PyTorch's and those inside OpenVINO)
by ``ONEDNN_MAX_CPU_ISA=AVX2`` and OpenVINO's own (eltwise, top-k, NMS) by
``OV_CPU_MAX_ISA=AVX2``. Under these caps the integer label path of the old
export gave -1 labels, as on a real AVX2 CPU. ONNX Runtime's MLAS kernels
have no such cap: they run as this CPU has them, and the engine probes check
them where they run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
AVX2 = dict(ATEN_CPU_CAPABILITY='avx2', ONEDNN_MAX_CPU_ISA='AVX2', OV_CPU_MAX_ISA='AVX2')
# What the capped process reports: ATen's level and OpenVINO's kernel names.
ISA_REPORT = '''
import numpy as np, openvino as ov, openvino.opset13 as ops, torch
x = ops.parameter([1, 16, 8, 8], np.float32)
conv = ops.convolution(x, ops.constant(np.ones((16, 16, 3, 3), np.float32)), [1, 1],
                       [1, 1], [1, 1], [1, 1])
model = ov.Model([ops.relu(ops.add(conv, conv))], [x])
kernels = {op.get_rt_info()['primitiveType'].astype(str)
           for op in ov.Core().compile_model(model, 'CPU').get_runtime_model().get_ops()}
print(torch.backends.cpu.get_cpu_capability(), ' '.join(sorted(kernels)))
'''


@pytest.mark.cpu_isa
def test_engines_as_an_avx2_cpu_runs_them(tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('openvino')
    import torch
    if torch.backends.cpu.get_cpu_capability() != 'AVX512':
        pytest.skip('this CPU has no AVX-512: the engine tests already ran as AVX2')
    env = dict(os.environ, **AVX2)
    report = subprocess.run([sys.executable, '-c', ISA_REPORT], env=env, check=True,
                            stdout=subprocess.PIPE, text=True).stdout.split()
    assert report[0] == 'AVX2', report
    assert any('avx2' in k for k in report[1:]), report
    assert not any('avx512' in k for k in report[1:]), report
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '--rootdir', str(HERE.parents[2]), '--basetemp', str(tmp_path / 'pytest'),
         str(HERE / 'test_backends.py'), str(HERE / 'test_probe.py')],
        cwd=HERE.parents[2], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert ' passed' in proc.stdout and ' failed' not in proc.stdout
