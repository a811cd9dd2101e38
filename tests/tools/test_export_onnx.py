"""ONNX export of the whole detector (``ssd_ext/deploy.py``,
``tools/deployment/export_onnx.py``): onnxruntime against PyTorch's
``model.predict`` on synthetic and real images, dynamic batch, the in-graph
preprocessing and the CLI's ``--verify``.

The model is the quickstart SSD160 with random weights. Its head starts out
predicting background with p = 0.99, and plain Xavier weights on top of that
saturate many scores at 1.0 on real images; with the classifier conv weights
multiplied by 0.3 the scores spread over (0, 1): many detections pass 0.05,
with distinct scores (ties would make the NMS order arbitrary on both sides).
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ssd_ext import deploy
from ssd_ext.data.synthetic_shapes import make_dataset

CONFIG = 'configs/quickstart/ssd160_shapes.py'
TOOL = 'tools/deployment/export_onnx.py'
CLS_WEIGHT_SCALE = 0.3
SCORE_THR = 0.05
BOX_ATOL = 1e-2    # px, in the original image
SCORE_ATOL = 1e-4

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')


def random_detector(repo_root: Path, seed: int = 0):
    cfg = Config.fromfile(str(repo_root / CONFIG))
    model = deploy.build_detector(cfg)
    torch.manual_seed(seed)
    model.init_weights()
    with torch.no_grad():
        for conv in model.bbox_head.cls_convs:
            conv.weight.mul_(CLS_WEIGHT_SCALE)
    return model.eval()


@pytest.fixture(scope='module')
def shapes_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('shapes')
    make_dataset(str(root), num_train=1, num_val=3, seed=3, image_size=200)
    return root


@pytest.fixture(scope='module')
def exported(repo_root, tmp_path_factory):
    """(model, checkpoint, onnx file with float input)."""
    tmp = tmp_path_factory.mktemp('onnx')
    model = random_detector(repo_root)
    ckpt = tmp / 'random.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    onnx_file = tmp / 'ssd160.onnx'
    deploy.export_onnx(model, str(onnx_file), deploy.input_size_from_cfg(model.cfg))
    return model, ckpt, onnx_file


@pytest.fixture(scope='module')
def session(exported):
    return ort.InferenceSession(str(exported[2]), providers=['CPUExecutionProvider'])


def check_parity(model, session, files, with_preprocess=False):
    """Runs both on ``files`` as one batch; returns the comparison reports."""
    data, raw = deploy.load_inputs(model, [str(f) for f in files])
    ref = deploy.torch_detections(model, data)
    feed = raw if with_preprocess else data['inputs'].numpy()
    dets, labels = session.run(None, {'images': feed})
    assert dets.shape == (len(files), model.bbox_head.test_cfg.max_per_img, 5)
    assert labels.shape == dets.shape[:2] and labels.dtype == np.int64
    got = deploy.onnx_detections(dets, labels, data['data_samples'])
    reports = []
    for f, r, o in zip(files, ref, got):
        # Same number of detections overall, and the top ones match.
        assert len(r['scores']) == len(o['scores']), f
        rep = deploy.compare_detections(r, o, SCORE_THR, 50, BOX_ATOL, SCORE_ATOL)
        assert rep['ok'], (f, rep)
        reports.append(rep)
    assert sum(rep['compared'] for rep in reports) >= len(files), \
        'too few detections above the threshold to compare'
    return reports


def test_onnx_graph(exported):
    model, _, onnx_file = exported
    proto = onnx.load(str(onnx_file))
    assert {o.domain: o.version for o in proto.opset_import}[''] == deploy.DEFAULT_OPSET
    assert 'NonMaxSuppression' in {n.op_type for n in proto.graph.node}
    (inp,) = proto.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == 'images' and dims[0].dim_param == 'batch'
    assert [d.dim_value for d in dims[1:]] == [3, 160, 160]
    assert [o.name for o in proto.graph.output] == ['dets', 'labels']


def test_parity_synthetic_images(exported, session, shapes_dir):
    model = exported[0]
    files = sorted((shapes_dir / 'val').glob('*.png'))
    reports = check_parity(model, session, files)
    print('synthetic:', [(r['compared'], r['max_box_diff'], r['max_score_diff'])
                         for r in reports])


def test_parity_real_images(exported, session, shared_data):
    """tiny COCO (various sizes) and BCCD (640x480) photographs."""
    model = exported[0]
    files = (sorted((shared_data / 'tiny_coco' / 'val2017').glob('*.jpg'))[:4] +
             sorted((shared_data / 'bccd' / 'JPEGImages').glob('*.jpg'))[:2])
    if len(files) < 6:
        pytest.skip(f'real images missing under {shared_data}')
    reports = check_parity(model, session, files)
    print('real:', [(r['compared'], r['max_box_diff'], r['max_score_diff'])
                    for r in reports])


def test_dynamic_batch(exported, session, shapes_dir):
    """Batch 1 and batch 3 through the same file: same detections per image."""
    model = exported[0]
    files = [str(f) for f in sorted((shapes_dir / 'val').glob('*.png'))]
    data, _ = deploy.load_inputs(model, files)
    x = data['inputs'].numpy()
    dets3, labels3 = session.run(None, {'images': x})
    assert dets3.shape[0] == 3
    for i in range(3):
        dets1, labels1 = session.run(None, {'images': x[i:i + 1]})
        assert dets1.shape == (1,) + dets3.shape[1:]
        np.testing.assert_array_equal(labels1[0], labels3[i])
        np.testing.assert_allclose(dets1[0], dets3[i], rtol=0, atol=1e-4)


def test_compare_detections_flags_mismatches():
    ref = dict(bboxes=np.array([[10, 10, 50, 50], [60, 60, 90, 90]], np.float32),
               scores=np.array([0.9, 0.5], np.float32), labels=np.array([0, 1]))
    same = {k: v.copy() for k, v in ref.items()}
    assert deploy.compare_detections(ref, same)['ok']
    for key, change in (('bboxes', lambda b: b + np.array([0, 0, 0.05, 0], np.float32)),
                        ('scores', lambda s: s - np.float32(1e-3)),
                        ('labels', lambda lab: lab[::-1].copy())):
        other = {k: v.copy() for k, v in ref.items()}
        other[key] = change(other[key])
        assert not deploy.compare_detections(ref, other)['ok'], key
    # A detection missing on one side.
    fewer = {k: v[:1] for k, v in ref.items()}
    assert not deploy.compare_detections(ref, fewer)['ok']
    assert not deploy.compare_detections(fewer, ref)['ok']


def test_cli_with_preprocess_and_verify(repo_root, exported, shapes_dir, tmp_path):
    """uint8 BGR input, normalised in the graph; --verify passes (exit 0)."""
    _, ckpt, _ = exported
    out = tmp_path / 'pre' / 'ssd160_pre.onnx'
    proc = subprocess.run(
        [sys.executable, TOOL, CONFIG, str(ckpt), str(out), '--with-preprocess',
         '--verify', str(shapes_dir / 'val')],
        cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'PASSED' in proc.stdout and 'MISMATCH' not in proc.stdout, proc.stdout
    assert 'uint8 [B, 160, 160, 3]' in proc.stdout
    (inp,) = onnx.load(str(out)).graph.input
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    # The in-graph preprocessing matches the data preprocessor's.
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    check_parity(exported[0], session, sorted((shapes_dir / 'val').glob('*.png')),
                 with_preprocess=True)


def test_cli_missing_checkpoint(repo_root, tmp_path):
    proc = subprocess.run(
        [sys.executable, TOOL, CONFIG, str(tmp_path / 'nope.pth'), str(tmp_path / 'x.onnx')],
        cwd=repo_root, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'checkpoint not found' in proc.stderr


def test_verify_reports_mismatch(repo_root, exported, shapes_dir, capsys):
    """The CLI's verify step fails (main() then exits 1) when the ONNX file is
    not the model's: here another random initialisation."""
    import argparse
    import importlib.util
    spec = importlib.util.spec_from_file_location('export_onnx', repo_root / TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = argparse.Namespace(score_thr=SCORE_THR, top_n=50, box_atol=BOX_ATOL,
                              score_atol=SCORE_ATOL, batch_size=4, with_preprocess=False,
                              channel_order='bgr')
    assert tool.verify(exported[0], str(exported[2]), str(shapes_dir / 'val'), args)
    other = random_detector(repo_root, seed=1)
    assert not tool.verify(other, str(exported[2]), str(shapes_dir / 'val'), args)
    out = capsys.readouterr().out
    assert 'MISMATCH' in out and 'FAILED' in out
