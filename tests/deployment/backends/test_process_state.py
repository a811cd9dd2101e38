"""Engines leave the process as they found it: no floating-point flag
(FTZ/DAZ) and no alternate signal stack of theirs in the calling thread; and
the exported labels do not depend on those flags."""
import gc

import numpy as np
import pytest
from test_probe import builder

from ssd_ext.deployment.backends import load_engine
from ssd_ext.deployment.backends.signal_stack import signal_stack
from ssd_testkit.backend_fixtures import small_model  # noqa: F401 (fixture)


def is_mapped(address: int) -> bool:
    with open('/proc/self/maps') as maps:
        for line in maps:
            low, high = (int(x, 16) for x in line.split()[0].split('-'))
            if low <= address < high:
                return True
    return False


def denormal_survives() -> bool:
    """Whether this thread computes with denormals (no FTZ/DAZ in its MXCSR)."""
    tiny = np.float32(1e-40)  # a float32 denormal
    return bool(tiny * np.float32(1.5) != 0)


@pytest.mark.parametrize('backend', ['pytorch', 'onnxruntime-fp32', 'openvino-fp32'])
def test_engines_leave_no_float_flag_behind(small_model, tmp_path, backend):  # noqa: F811
    pytest.importorskip({'pytorch': 'torch', 'onnxruntime-fp32': 'onnxruntime',
                         'openvino-fp32': 'openvino'}[backend])
    model, _, inputs, _ = small_model
    assert denormal_survives()
    engine, _ = builder(model, inputs, tmp_path).build(backend)
    engine(inputs)
    assert denormal_survives(), f'{backend} left flush-to-zero on in the calling thread'


def test_openvino_labels_do_not_depend_on_flushed_denormals(small_model):  # noqa: F811
    """The IR compiled with FTZ/DAZ (``CPU_DENORMALS_OPTIMIZATION``) gives ONNX
    Runtime's labels: on AVX2 CPUs the fused integer label path once gave -1."""
    ov = pytest.importorskip('openvino')
    ort = pytest.importorskip('onnxruntime')
    model, onnx_file, inputs, _ = small_model
    try:
        compiled = ov.Core().compile_model(ov.convert_model(onnx_file), 'CPU', {
            'INFERENCE_PRECISION_HINT': 'f32', 'CPU_DENORMALS_OPTIMIZATION': True})
        labels = compiled({'images': inputs})[compiled.output('labels')]
    finally:
        import torch
        torch.set_flush_denormal(False)  # what the option may leave in this thread
    expected = ort.InferenceSession(onnx_file).run(None, {'images': inputs})[1]
    assert (expected >= 0).any()
    np.testing.assert_array_equal(labels, expected)


def test_openvino_engines_leave_the_signal_stack_as_it_was(small_model, tmp_path):  # noqa: F811
    """Each OpenVINO compile installed a signal stack of its own in the calling
    thread and put back, when freed, the one it had found: two engines freed
    in the order they were made left the thread on the first one's freed
    buffer, and the next signal (a DataLoader worker's SIGCHLD) crashed the
    process with SIGSEGV."""
    pytest.importorskip('openvino')
    model, _, inputs, _ = small_model
    _, info = builder(model, inputs, tmp_path).build('openvino-fp32')
    gc.collect()
    before = signal_stack()
    first = load_engine(info['file'], threads=1)
    second = load_engine(info['file'], threads=1)
    del first
    gc.collect()
    del second
    gc.collect()
    assert signal_stack() == before
    assert before[2] == 0 or is_mapped(before[0])
