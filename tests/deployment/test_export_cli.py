"""``tools/deployment/export_onnx.py``: export with in-graph preprocessing,
``--verify`` passing on the model's own file and failing on another model's,
and a missing checkpoint (model and data: ``ssd_testkit/onnx_fixtures.py``)."""
import argparse
import subprocess
import sys

import pytest
from conftest import load_script

from ssd_testkit.onnx_fixtures import (BOX_ATOL, CONFIG, SCORE_ATOL, SCORE_THR,  # noqa: F401
                                       check_parity, exported, random_detector, shapes_dir)

TOOL = 'tools/deployment/export_onnx.py'

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')


def test_cli_with_preprocess_and_verify(repo_root, exported, shapes_dir,  # noqa: F811
                                        tmp_path):
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


def test_verify_reports_mismatch(repo_root, exported, shapes_dir, capsys):  # noqa: F811
    """The CLI's verify step fails (main() then exits 1) when the ONNX file is
    not the model's: here another random initialisation."""
    tool = load_script(repo_root / TOOL)
    args = argparse.Namespace(score_thr=SCORE_THR, top_n=50, box_atol=BOX_ATOL,
                              score_atol=SCORE_ATOL, batch_size=4, with_preprocess=False,
                              channel_order='bgr')
    assert tool.verify(exported[0], str(exported[2]), str(shapes_dir / 'val'), args)
    other = random_detector(repo_root, seed=1)
    assert not tool.verify(other, str(exported[2]), str(shapes_dir / 'val'), args)
    out = capsys.readouterr().out
    assert 'MISMATCH' in out and 'FAILED' in out
