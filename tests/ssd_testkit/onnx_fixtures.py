"""Shared by the ONNX export tests: a random-weight quickstart detector, its
ONNX file and the parity check of onnxruntime against PyTorch.

The model is the quickstart SSD160 with random weights. Its head starts out
predicting background with p = 0.99, and plain Xavier weights on top of that
saturate many scores at 1.0 on real images; with the classifier conv weights
multiplied by 0.3 the scores spread over (0, 1): many detections pass 0.05,
with distinct scores (ties would make the NMS order arbitrary on both sides).
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ssd_ext.apis import build_detector
from ssd_ext.data.synthetic_shapes import make_dataset
from ssd_ext.deployment import (compare_detections, export_onnx, load_inputs,
                                onnx_detections, torch_detections)
from ssd_ext.utils.inference_input import input_size_from_cfg

CONFIG = 'configs/quickstart/ssd160_shapes.py'
CLS_WEIGHT_SCALE = 0.3
SCORE_THR = 0.05
BOX_ATOL = 1e-2    # px, in the original image
SCORE_ATOL = 1e-4


def random_detector(repo_root: Path, seed: int = 0):
    cfg = Config.fromfile(str(repo_root / CONFIG))
    model = build_detector(cfg)
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
    export_onnx(model, str(onnx_file), input_size_from_cfg(model.cfg))
    return model, ckpt, onnx_file


def check_parity(model, session, files, with_preprocess=False):
    """Runs both on ``files`` as one batch; returns the comparison reports."""
    data, raw = load_inputs(model, [str(f) for f in files])
    ref = torch_detections(model, data)
    feed = raw if with_preprocess else data['inputs'].numpy()
    dets, labels = session.run(None, {'images': feed})
    assert dets.shape == (len(files), model.bbox_head.test_cfg.max_per_img, 5)
    assert labels.shape == dets.shape[:2] and labels.dtype == np.int64
    got = onnx_detections(dets, labels, data['data_samples'])
    reports = []
    for f, r, o in zip(files, ref, got):
        # Same number of detections overall, and the top ones match.
        assert len(r['scores']) == len(o['scores']), f
        rep = compare_detections(r, o, SCORE_THR, 50, BOX_ATOL, SCORE_ATOL)
        assert rep['ok'], (f, rep)
        reports.append(rep)
    assert sum(rep['compared'] for rep in reports) >= len(files), \
        'too few detections above the threshold to compare'
    return reports
