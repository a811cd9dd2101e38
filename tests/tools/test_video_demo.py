"""``tools/video_demo.py`` on a small video of generated shape images (resized
to a non-square 256x192, so x and y scale back differently) with the quickstart
SSD160 at random weights: the PyTorch and ONNX Runtime paths end to end, the
per-frame input and boxes against the test pipeline's and PyTorch's own, and
clear errors on bad inputs."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ssd_ext.data.synthetic_shapes import make_dataset
from ssd_ext.deployment import load_inputs, torch_detections
from ssd_ext.deployment.backends import PyTorchEngine
from ssd_ext.utils.inference_input import input_size_from_cfg
from conftest import load_script, run_tool, tool_env

TOOL = 'tools/video_demo.py'
CONFIG = 'configs/quickstart/ssd160_shapes.py'
CLASSES = ['red', 'white', 'platelet']  # in the checkpoint's meta: not the config's
FRAME_W, FRAME_H, NUM_FRAMES = 256, 192, 4


def read_video(path: Path):
    """(frames, frame rate) of a video file."""
    cap = cv2.VideoCapture(str(path))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), []
    ok, frame = cap.read()
    while ok:
        frames.append(frame)
        ok, frame = cap.read()
    cap.release()
    return frames, fps


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_script(repo_root / TOOL)


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    """Generated shape images as non-square BGR frames."""
    root = tmp_path_factory.mktemp('shapes')
    make_dataset(str(root), num_train=0, num_val=NUM_FRAMES, seed=7, image_size=200)
    return [cv2.resize(cv2.imread(str(f)), (FRAME_W, FRAME_H))
            for f in sorted((root / 'val').glob('*.png'))]


@pytest.fixture(scope='module')
def video(frames, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('video') / 'in.mp4'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 12.0,
                             (FRAME_W, FRAME_H))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope='module')
def model(repo_root):
    """Random weights whose scores spread over (0, 1): many detections above
    the head's score_thr, with distinct scores (the ONNX export tests' model)."""
    from ssd_testkit.onnx_fixtures import random_detector
    return random_detector(repo_root)


@pytest.fixture(scope='module')
def ckpt(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': tuple(CLASSES)}}}, path)
    return path


@pytest.fixture(scope='module')
def onnx_file(model, tmp_path_factory) -> Path:
    pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    from ssd_ext.deployment import export_onnx
    path = tmp_path_factory.mktemp('onnx') / 'ssd160.onnx'
    export_onnx(model, str(path), input_size_from_cfg(model.cfg))
    return path


@pytest.fixture(params=['shapes', 'bccd'])
def frame_png(request, frames, tmp_path) -> Path:
    """A frame as a lossless PNG: a generated one, and a real BCCD image."""
    if request.param == 'shapes':
        frame = frames[0]
    else:
        shared = request.getfixturevalue('shared_data')
        frame = cv2.imread(str(shared / 'bccd' / 'JPEGImages' / 'BloodImage_00000.jpg'))
    path = tmp_path / 'frame.png'
    cv2.imwrite(str(path), frame)
    return path


def run_demo(repo_root, *args) -> str:
    env = tool_env(repo_root)
    for key in ('DISPLAY', 'WAYLAND_DISPLAY'):  # --show must then be skipped
        env.pop(key, None)
    return run_tool([sys.executable, TOOL, *map(str, args)], env, repo_root, timeout=300)


def check_output(out: Path, src_frames, num_frames: int):
    frames, fps = read_video(out)
    assert len(frames) == num_frames
    assert fps == pytest.approx(12.0)  # the source's rate
    for drawn, src in zip(frames, src_frames):
        assert drawn.shape == (FRAME_H, FRAME_W, 3)
        # The FPS banner's black box in the top-left corner (mp4 is lossy).
        assert drawn[2:12, 2:40].mean() < 60 < src[2:12, 2:40].mean()
        # Boxes drawn elsewhere too (score threshold 0 on random weights).
        assert np.abs(drawn[40:].astype(int) - src[40:]).max() > 100


def test_pytorch_video(repo_root, video, ckpt, tmp_path):
    out = tmp_path / 'new' / 'out.mp4'  # the folder is created
    log = run_demo(repo_root, video, CONFIG, ckpt, '--out', out, '--score-thr', '0',
                   '--threads', '1')
    src, _ = read_video(video)
    check_output(out, src, NUM_FRAMES)
    assert f'classes (from the checkpoint): {CLASSES}' in log
    assert f'{NUM_FRAMES} frames, mean ' in log and ' fps (pytorch fp32' in log, log


def test_onnx_video_max_frames(repo_root, video, ckpt, onnx_file, tmp_path):
    out = tmp_path / 'out.mp4'
    log = run_demo(repo_root, video, CONFIG, ckpt, '--engine', onnx_file, '--out', out,
                   '--score-thr', '0', '--max-frames', 2, '--threads', '1', '--show')
    src, _ = read_video(video)
    check_output(out, src, 2)
    assert '--show ignored: no display' in log
    assert '2 frames, mean ' in log and ' fps (onnxruntime fp32' in log, log


def test_frame_input_matches_test_pipeline(tool, model, frame_png):
    """A frame's network input is the test pipeline's + data preprocessor's."""
    data, _ = load_inputs(model, [str(frame_png)])
    got = tool.frame_preprocess(model.cfg)(cv2.imread(str(frame_png)))
    assert got.shape == tuple(data['inputs'].shape) and got.dtype == np.float32
    np.testing.assert_allclose(got, data['inputs'].numpy(), atol=1e-4)


def test_frame_boxes_match_pytorch_and_onnx(tool, model, onnx_file, frame_png):
    """Boxes in frame pixels equal ``model.predict(..., rescale=True)``'s on the
    image file, for the PyTorch engine and the ONNX Runtime one."""
    from ssd_ext.deployment.backends import load_engine
    frame = cv2.imread(str(frame_png))
    preprocess, size = tool.frame_preprocess(model.cfg), input_size_from_cfg(model.cfg)
    (ref,) = torch_detections(model, load_inputs(model, [str(frame_png)])[0])
    assert len(ref['scores']) >= 10  # enough to compare
    for engine in (PyTorchEngine(model), load_engine(str(onnx_file), 1)):
        boxes, scores, labels = tool.detect_frame(engine, frame, preprocess, size)
        assert len(scores) == len(ref['scores']), engine.name
        np.testing.assert_allclose(boxes, ref['bboxes'], atol=1e-2, err_msg=engine.name)
        np.testing.assert_allclose(scores, ref['scores'], atol=1e-4, err_msg=engine.name)
        np.testing.assert_array_equal(labels, ref['labels'])
    # The threshold drops exactly the lower scores.
    boxes, scores, _ = tool.detect_frame(engine, frame, preprocess, size, 0.1)
    assert len(scores) == (ref['scores'] >= 0.1).sum() and len(boxes) == len(scores)


def test_errors(repo_root, video, ckpt, tmp_path):
    def fails(*args) -> str:
        proc = subprocess.run([sys.executable, TOOL, *map(str, args), '--out',
                               tmp_path / 'x.mp4'], cwd=repo_root, capture_output=True,
                              text=True, timeout=300, env=tool_env(repo_root))
        assert proc.returncode != 0 and not (tmp_path / 'x.mp4').exists()
        return proc.stderr
    missing = tmp_path / 'missing.mp4'
    assert f'video file not found: {missing}' in fails(missing, CONFIG, ckpt)
    assert 'camera index 9 could not be opened' in fails('9', CONFIG, ckpt)
    assert f'engine file not found: {missing}' in fails(video, CONFIG, ckpt,
                                                        '--engine', missing)
    bad = tmp_path / 'model.bin'
    bad.write_bytes(b'')
    assert "unknown engine suffix '.bin'" in fails(video, CONFIG, ckpt, '--engine', bad)
    assert '--max-frames must be at least 1' in fails(video, CONFIG, ckpt, '--max-frames', 0)


def test_engine_of_another_input_size_is_refused(repo_root, model, video, ckpt, tmp_path):
    """An engine exported at 192x192 for a config that resizes to 160x160 would
    fail inside the backend (or silently run on other boxes); the tool names
    both sizes instead."""
    pytest.importorskip('onnxruntime')
    from ssd_ext.deployment import export_onnx
    other = tmp_path / 'ssd160_at_192.onnx'
    export_onnx(model, str(other), (192, 192))
    proc = subprocess.run([sys.executable, TOOL, str(video), CONFIG, str(ckpt), '--engine',
                           str(other), '--out', str(tmp_path / 'x.mp4')], cwd=repo_root,
                          capture_output=True, text=True, timeout=300, env=tool_env(repo_root))
    assert proc.returncode != 0 and not (tmp_path / 'x.mp4').exists()
    assert ('onnxruntime fp32 engine takes 192x192 (H x W) inputs, but config '
            f'{CONFIG} resizes to 160x160') in proc.stderr
