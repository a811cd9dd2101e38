"""Shared by the backend tests: the random quickstart SSD160 of
``onnx_fixtures.py``, exported once, with its inputs on a few synthetic images."""
import pytest
from conftest import REPO_ROOT

from ssd_ext.data.synthetic_shapes import make_dataset
from ssd_ext.deployment import export_onnx, load_inputs
from ssd_ext.utils.inference_input import input_size_from_cfg
from ssd_testkit import onnx_fixtures


@pytest.fixture(scope='module')
def small_model(tmp_path_factory):
    """(model, fp32 ONNX file, inputs float32 [4, 3, 160, 160], image files)."""
    pytest.importorskip('onnx')
    root = tmp_path_factory.mktemp('engines')
    make_dataset(str(root / 'shapes'), num_train=1, num_val=4, seed=5, image_size=200)
    files = sorted(str(p) for p in (root / 'shapes' / 'val').glob('*.png'))
    model = onnx_fixtures.random_detector(REPO_ROOT)
    onnx_file = str(root / 'fp32.onnx')
    export_onnx(model, onnx_file, input_size_from_cfg(model.cfg))
    return model, onnx_file, load_inputs(model, files)[0]['inputs'].numpy(), files
