"""``ssd_ext/deployment/export.py``: the exported file's graph, and
onnxruntime against PyTorch's ``model.predict`` on synthetic and real images,
with a dynamic batch (model and data: ``ssd_testkit/onnx_fixtures.py``)."""
import numpy as np
import pytest

from ssd_ext.deployment import DEFAULT_OPSET, load_inputs
from ssd_testkit.onnx_fixtures import check_parity, exported, shapes_dir  # noqa: F401 (fixtures)

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')


@pytest.fixture(scope='module')
def session(exported):  # noqa: F811 (the imported fixture)
    return ort.InferenceSession(str(exported[2]), providers=['CPUExecutionProvider'])


def test_onnx_graph(exported):  # noqa: F811
    model, _, onnx_file = exported
    proto = onnx.load(str(onnx_file))
    assert {o.domain: o.version for o in proto.opset_import}[''] == DEFAULT_OPSET
    assert 'NonMaxSuppression' in {n.op_type for n in proto.graph.node}
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == 'images' and dims[0].dim_param == 'batch'
    assert [d.dim_value for d in dims[1:]] == [3, 160, 160]
    assert [o.name for o in proto.graph.output] == ['dets', 'labels']


def test_parity_synthetic_images(exported, session, shapes_dir):  # noqa: F811
    model = exported[0]
    files = sorted((shapes_dir / 'val').glob('*.png'))
    reports = check_parity(model, session, files)
    print('synthetic:', [(r['compared'], r['max_box_diff'], r['max_score_diff'])
                         for r in reports])


def test_parity_real_images(exported, session, shared_data):  # noqa: F811
    """tiny COCO (various sizes) and BCCD (640x480) photographs."""
    model = exported[0]
    files = (sorted((shared_data / 'tiny_coco' / 'val2017').glob('*.jpg'))[:4] +
             sorted((shared_data / 'bccd' / 'JPEGImages').glob('*.jpg'))[:2])
    if len(files) < 6:
        pytest.skip(f'real images missing under {shared_data}')
    reports = check_parity(model, session, files)
    print('real:', [(r['compared'], r['max_box_diff'], r['max_score_diff'])
                    for r in reports])


def test_dynamic_batch(exported, session, shapes_dir):  # noqa: F811
    """Batch 1 and batch 3 through the same file: same detections per image."""
    model = exported[0]
    files = [str(f) for f in sorted((shapes_dir / 'val').glob('*.png'))]
    data, _ = load_inputs(model, files)
    x = data['inputs'].numpy()
    dets3, labels3 = session.run(None, {'images': x})
    assert dets3.shape[0] == 3
    for i in range(3):
        dets1, labels1 = session.run(None, {'images': x[i:i + 1]})
        assert dets1.shape == (1,) + dets3.shape[1:]
        np.testing.assert_array_equal(labels1[0], labels3[i])
        np.testing.assert_allclose(dets1[0], dets3[i], rtol=0, atol=1e-4)
