"""``ssd_ext/deployment/backends/int8_scope.py``: what INT8 leaves in fp32."""
import numpy as np
import pytest
from conftest import REPO_ROOT

from ssd_ext.deployment.backends.int8_scope import (fp32_reasons, infinite_pad_nodes,
                                                    split_nodes)
from ssd_testkit import onnx_fixtures

onnx = pytest.importorskip('onnx')

NAMES = ['/backbone/features.0/Conv', '/neck/l2_norm/Div', '/neck/extra_layers.0/Conv',
         '/bbox_head/cls_convs.0/Conv', '/TopK', 'dets']


def test_network_minus_defaults_and_patterns():
    quantised, kept = split_nodes(NAMES)
    assert quantised == ['/backbone/features.0/Conv', '/neck/extra_layers.0/Conv',
                         '/bbox_head/cls_convs.0/Conv']
    assert kept == ['/neck/l2_norm/Div']  # decoding and NMS are not network nodes
    quantised, kept = split_nodes(NAMES, ['^/bbox_head/'], always_fp32={'/neck/extra_layers.0/Conv'})
    assert quantised == ['/backbone/features.0/Conv']
    assert set(kept) == {'/neck/l2_norm/Div', '/neck/extra_layers.0/Conv',
                         '/bbox_head/cls_convs.0/Conv'}
    assert set(fp32_reasons(['^/bbox_head/'])) >= {'outside the network', '^/bbox_head/'}


def test_a_pattern_matching_nothing_is_an_error():
    with pytest.raises(ValueError, match=r"pattern '\^/bbox_hed/' matches no network node"):
        split_nodes(NAMES, ['^/bbox_hed/'])


def test_ceil_mode_pool_padding_is_found_in_an_exported_graph(tmp_path):
    """At a 160 input SSD160's 2x2 ceil-mode pools see only even sizes (160,
    80, 40); exported at 300 the third pool sees 75 (-> 38), as SSD300's
    does, and pads it with -inf."""
    model = onnx_fixtures.random_detector(REPO_ROOT)
    from ssd_ext.deployment import export_onnx
    export_onnx(model, str(tmp_path / 'm.onnx'), (300, 300))
    graph = onnx.load(str(tmp_path / 'm.onnx')).graph
    found = infinite_pad_nodes(graph)
    by_name = {n.name: n for n in graph.node}
    types = {by_name[n].op_type for n in found}
    assert {'Pad', 'Slice', 'Max'} <= types
    pads = [n for n in graph.node if n.op_type == 'Pad']
    assert pads and all(p.name in found for p in pads)
    # Nothing but the padded pools: every found node sits in a pool module.
    assert len({n.rsplit('/', 1)[0] for n in found if by_name[n].op_type != 'Relu'}) == len(pads)


def pad_graph(value: float):
    """Pad(x, pads, value) -> Slice -> Relu."""
    from onnx import TensorProto, helper
    nodes = [helper.make_node('Constant', [], ['v'], name='c', value=helper.make_tensor(
                 'v', TensorProto.FLOAT, [], [value])),
             helper.make_node('Pad', ['x', 'p', 'v'], ['y'], name='pad'),
             helper.make_node('Slice', ['y', 's', 'e'], ['z'], name='slice'),
             helper.make_node('Relu', ['z'], ['r'], name='relu')]
    return helper.make_graph(nodes, 'g', [], [])


def test_only_a_minus_inf_pad_is_flagged():
    assert infinite_pad_nodes(pad_graph(0.0)) == set()
    # The slice carries the -inf on; the ReLU reads it (its input would be quantised).
    assert infinite_pad_nodes(pad_graph(-np.inf)) == {'pad', 'slice', 'relu'}
