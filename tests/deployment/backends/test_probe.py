"""Engine probes (``ssd_ext/deployment/backends/probe.py``): every built engine
file carries its expected detections, ``load_engine`` refuses an engine whose
weights changed after the build and warns once about one without a probe."""
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ssd_ext.deployment.backends import EngineBuilder, PyTorchEngine, load_engine
from ssd_ext.deployment.backends.probe import ProbeMismatch, probe_file, read_probe
from ssd_testkit.backend_fixtures import small_model  # noqa: F401 (fixture)


def builder(model, inputs, work_dir):
    return EngineBuilder(model, str(work_dir), (160, 160),
                         lambda: [x[None] for x in inputs], threads=1)


def scale_largest_ir_weights(xml_file: str, factor: float) -> None:
    """Multiplies the largest float32 constant of an OpenVINO IR (a
    convolution's weights: a run of float32 values in the ``.bin``)."""
    consts = [d for d in ET.parse(xml_file).iter('data')
              if d.get('element_type') == 'f32' and d.get('offset') is not None]
    data = max(consts, key=lambda d: int(d.get('size')))
    offset, size = int(data.get('offset')), int(data.get('size'))
    bin_file = xml_file[:-4] + '.bin'
    raw = bytearray(open(bin_file, 'rb').read())
    run = np.frombuffer(bytes(raw[offset:offset + size]), np.float32) * factor
    raw[offset:offset + size] = run.astype(np.float32).tobytes()
    open(bin_file, 'wb').write(bytes(raw))


def test_probe_records_pytorch_for_fp32(small_model, tmp_path):  # noqa: F811
    pytest.importorskip('onnxruntime')
    model, _, inputs, _ = small_model
    engine, info = builder(model, inputs, tmp_path).build('onnxruntime-fp32')
    probe = read_probe(info['file'])
    assert info['probe'] == probe_file(info['file'])
    assert probe['meta']['reference'] == 'PyTorch fp32'
    assert probe['inputs'].shape == (2, 3, 160, 160)
    dets, labels = PyTorchEngine(model)(probe['inputs'])
    np.testing.assert_array_equal(probe['labels'], labels)
    np.testing.assert_array_equal(probe['dets'], dets)
    assert (labels >= 0).any()


def test_changed_openvino_weights_are_refused(small_model, tmp_path):  # noqa: F811
    pytest.importorskip('openvino')
    model, _, inputs, _ = small_model
    _, info = builder(model, inputs, tmp_path).build('openvino-fp32')
    load_engine(info['file'], threads=1)  # untouched: passes
    scale_largest_ir_weights(info['file'], 1.05)
    with pytest.raises(ProbeMismatch) as err:
        load_engine(info['file'], threads=1)
    message = str(err.value)
    assert info['file'] in message and 'openvino fp32 engine disagrees' in message
    assert 'largest difference' in message and 'ATen' in message  # the CPU, named


def test_changed_int8_weights_are_refused(small_model, tmp_path):  # noqa: F811
    """INT8 is held to agreement (it differs between CPUs by design), which a
    weights file changed after the build still fails."""
    pytest.importorskip('openvino')
    pytest.importorskip('nncf')
    model, _, inputs, _ = small_model
    _, info = builder(model, inputs, tmp_path).build('openvino-int8')
    assert read_probe(info['file'])['meta']['reference'].startswith('its own')
    load_engine(info['file'], threads=1)
    scale_largest_ir_weights(info['file'], 0.5)
    with pytest.raises(ProbeMismatch, match=r'openvino int8 engine disagrees .* \(recall'):
        load_engine(info['file'], threads=1)


def test_changed_onnx_weights_are_refused(small_model, tmp_path):  # noqa: F811
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from onnx import numpy_helper
    model, _, inputs, _ = small_model
    _, info = builder(model, inputs, tmp_path).build('onnxruntime-fp32')
    graph = onnx.load(info['file'])
    weight = max(graph.graph.initializer, key=lambda t: np.prod(t.dims))
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.05,
                                            weight.name))
    onnx.save(graph, info['file'])
    with pytest.raises(ProbeMismatch, match='onnxruntime fp32 engine disagrees'):
        load_engine(info['file'], threads=1)


def test_engine_without_probe_warns_once(small_model, tmp_path):  # noqa: F811
    pytest.importorskip('onnxruntime')
    _, onnx_file, _, _ = small_model
    copy = str(tmp_path / 'elsewhere.onnx')
    shutil.copy(onnx_file, copy)
    with pytest.warns(UserWarning, match='no probe') as warned:
        load_engine(copy, threads=1)
    assert len([w for w in warned if 'no probe' in str(w.message)]) == 1


def test_probe_of_another_backend_is_refused(small_model, tmp_path):  # noqa: F811
    pytest.importorskip('onnxruntime')
    model, onnx_file, inputs, _ = small_model
    _, info = builder(model, inputs, tmp_path).build('onnxruntime-fp32')
    shutil.copy(info['probe'], tmp_path / 'm.xml.probe.npz')
    pytest.importorskip('openvino')
    from ssd_ext.deployment.backends.openvino_engine import convert_onnx_to_ir
    convert_onnx_to_ir(onnx_file, str(tmp_path / 'm.xml'))
    with pytest.raises(ProbeMismatch, match='recorded for onnxruntime, but the file opens '
                       'on openvino'):
        load_engine(str(tmp_path / 'm.xml'))
