"""``ssd_ext/deployment/backends/onnxruntime_int8.py``: the QDQ file it writes
and the scale check that refuses a broken calibration."""
import numpy as np
import pytest

from ssd_ext.deployment.backends.onnxruntime_int8 import (check_scales, cpu_has_vnni,
                                                          quantize_onnx_int8)
from ssd_testkit.backend_fixtures import small_model  # noqa: F401 (fixture)

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')


@pytest.mark.parametrize('symmetric', [False, True])
def test_qdq_file(small_model, tmp_path, symmetric):  # noqa: F811
    _, onnx_file, inputs, _ = small_model
    out = str(tmp_path / 'int8.onnx')
    info = quantize_onnx_int8(onnx_file, out, [x[None] for x in inputs[:2]],
                              symmetric=symmetric)
    graph = onnx.load(out).graph
    quant = [n for n in graph.node if n.op_type == 'QuantizeLinear']
    convs = [n for n in graph.node if n.op_type == 'Conv']
    assert len(quant) >= len(convs) > 0
    # Only the network's tensors are quantised (the input image, weights and
    # outputs of network nodes): decoding and NMS compute in fp32 on
    # dequantised values.
    producer = {o: n.name for n in graph.node for o in n.output}
    weights = {i.name for i in graph.initializer}
    sources = {producer.get(q.input[0], q.input[0]) for q in quant} - weights
    assert {s for s in sources if s != 'images'
            and not s.startswith(('/backbone/', '/neck/', '/bbox_head/'))} == set()
    # L2Norm computes in fp32: only its result (the head conv's input) is
    # quantised, none of the norm, quotient or scale on the way.
    l2 = [n for n in graph.node if n.name.startswith('/neck/l2_norm/')
          and n.op_type not in ('QuantizeLinear', 'DequantizeLinear')]
    internal = {o for n in l2 for o in n.output} & {i for n in l2 for i in n.input}
    assert l2 and not internal & {q.input[0] for q in quant}
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    zero_points = [inits[n.input[2]] for n in quant if len(n.input) > 2]
    if symmetric:  # TensorRT's form: zero points 0, fp32 biases, weights Q/DQ'd
        assert all(z.dtype == np.int8 and not z.any() for z in zero_points)
        assert {q.input[0] for q in quant} & weights
        dequant_types = {inits[n.input[0]].dtype for n in graph.node
                         if n.op_type == 'DequantizeLinear' and n.input[0] in inits}
        assert np.dtype(np.int32) not in dequant_types
    else:
        assert any(z.dtype == np.uint8 for z in zero_points)
    assert info['reduce_range'] == (not symmetric and not cpu_has_vnni())


def test_check_scales_names_a_degenerate_tensor(tmp_path):
    from onnx import TensorProto, helper
    scale = helper.make_tensor('s', TensorProto.FLOAT, [], [float('inf')])
    zero = helper.make_tensor('z', TensorProto.UINT8, [], [0])
    node = helper.make_node('QuantizeLinear', ['act', 's', 'z'], ['q'], name='q')
    graph = helper.make_graph([node], 'g',
                              [helper.make_tensor_value_info('act', TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info('q', TensorProto.UINT8, [1])],
                              initializer=[scale, zero])
    path = str(tmp_path / 'bad.onnx')
    onnx.save(helper.make_model(graph), path)
    with pytest.raises(ValueError, match="scale of 'act' is .*inf.*did not vary"):
        check_scales(path)


def test_no_calibration_images(small_model, tmp_path):  # noqa: F811
    with pytest.raises(ValueError, match='no calibration images'):
        quantize_onnx_int8(small_model[1], str(tmp_path / 'x.onnx'), [])
