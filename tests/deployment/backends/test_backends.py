"""Every CPU engine (``ssd_ext/deployment/backends/``) against PyTorch on the
same inputs: fp32 engines within the export's tolerances, INT8 engines
runnable and close; and :func:`load_engine` picking the backend by suffix."""
import copy

import numpy as np
import pytest

from ssd_ext.deployment import compare_detections, torch_detections
from ssd_ext.deployment.agreement import image_agreement
from ssd_ext.deployment.backends import EngineBuilder, PyTorchEngine, load_engine
from ssd_ext.deployment.backends.build import unavailable
from ssd_ext.deployment.verify import load_inputs, onnx_detections
from ssd_testkit import onnx_fixtures
from ssd_testkit.backend_fixtures import small_model  # noqa: F401 (fixture)


def per_image(engine, model, files):
    data = load_inputs(model, files)[0]
    return onnx_detections(*engine(data['inputs'].numpy()), data['data_samples'])


def assert_parity(model, engine, files):
    ref = torch_detections(model, load_inputs(model, files)[0])
    got = per_image(engine, model, files)
    for r, o in zip(ref, got):
        rep = compare_detections(r, o, onnx_fixtures.SCORE_THR, 50, onnx_fixtures.BOX_ATOL,
                                 onnx_fixtures.SCORE_ATOL)
        assert rep['ok'] and rep['compared'] > 0, rep


def test_pytorch_engine_is_model_predict(small_model):  # noqa: F811
    model, _, _, files = small_model
    # A threshold that leaves fewer than max_per_img detections: padding rows.
    model = copy.deepcopy(model)
    model.bbox_head.test_cfg.score_thr = 0.5
    engine = PyTorchEngine(model)
    dets, labels = engine(load_inputs(model, files)[0]['inputs'].numpy())
    k = model.bbox_head.test_cfg.max_per_img
    assert dets.shape == (len(files), k, 5) and labels.shape == (len(files), k)
    padding = dets[..., 4] == 0
    assert padding.any() and (labels[padding] == -1).all() and (labels[~padding] >= 0).all()
    assert_parity(model, engine, files)


def test_onnxruntime_fp32(small_model):  # noqa: F811
    pytest.importorskip('onnxruntime')
    model, onnx_file, _, files = small_model
    engine = load_engine(onnx_file, threads=1)
    assert engine.name == 'onnxruntime fp32' and engine.input_size == (160, 160)
    assert_parity(model, engine, files)


def test_openvino_fp32(small_model, tmp_path):  # noqa: F811
    pytest.importorskip('openvino')
    from ssd_ext.deployment.backends.openvino_engine import convert_onnx_to_ir
    model, onnx_file, _, files = small_model
    xml = convert_onnx_to_ir(onnx_file, str(tmp_path / 'm.xml'))
    engine = load_engine(xml, threads=1)
    assert engine.name == 'openvino fp32' and engine.input_size == (160, 160)
    assert_parity(model, engine, files)
    with pytest.raises(ValueError, match=r'openvino fp32 engine takes 160x160 \(H x W\) '
                       'inputs, but config c.py resizes to 300x300'):
        engine.check_input_size((300, 300), 'config c.py')
    engine.check_input_size((160, 160), 'config c.py')


@pytest.mark.parametrize('backend,modules', [('onnxruntime-int8', ('onnxruntime',)),
                                             ('openvino-int8', ('openvino', 'nncf'))])
def test_int8_engines_run_and_stay_close(small_model, tmp_path, backend, modules):  # noqa: F811
    for module in modules:
        pytest.importorskip(module)
    model, _, inputs, files = small_model
    builder = EngineBuilder(model, str(tmp_path), (160, 160),
                            lambda: [x[None] for x in inputs], threads=1)
    engine, info = builder.build(backend)
    reopened = load_engine(info['file'])
    assert engine.precision == reopened.precision == 'int8'
    assert info['calibration_images'] == len(inputs) and info['quantised'] > 0
    assert 'outside the network' in info['fp32']
    data = load_inputs(model, files)[0]
    ref = torch_detections(model, data)
    got = onnx_detections(*engine(inputs), data['data_samples'])
    agreement = [image_agreement(r, o, score_thr=0.3) for r, o in zip(ref, got)]
    # Random weights: scores near 0.3 are many and close, so the bar is loose;
    # trained models are held to the AP bar (tests/tools/test_deploy.py).
    matched = sum(a['matched'] for a in agreement)
    total = sum(a['reference'] for a in agreement)
    assert total > 0 and matched / total > 0.5, agreement
    np.testing.assert_array_equal(reopened(inputs)[1], engine(inputs)[1])


def test_load_engine_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='engine file not found: .*nope.onnx'):
        load_engine(str(tmp_path / 'nope.onnx'))
    (tmp_path / 'm.bin').write_bytes(b'')
    with pytest.raises(ValueError, match=r"unknown engine suffix '\.bin'"):
        load_engine(str(tmp_path / 'm.bin'))


def test_unavailable_backends_say_what_they_need(monkeypatch):
    import importlib.util
    # Every other package present, whatever this machine has installed.
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'nncf' else object())
    assert unavailable('openvino-int8') == 'needs nncf (pip install -e ".[deploy]")'
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        unavailable('tensorrt')
