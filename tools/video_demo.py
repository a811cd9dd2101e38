"""Detect objects in a video file or a camera stream and write the drawn frames
to a video.

``python tools/video_demo.py SOURCE CONFIG CHECKPOINT [--engine ENGINE_FILE]
[--out outputs/video_demo.mp4] [--score-thr 0.3] [--device cpu]
[--max-frames N] [--show] [--threads N]``

SOURCE is a video file, or a camera index (digits that are not a file, e.g.
``0``). Each frame is resized and normalised as the test pipeline and the data
preprocessor do it and run by the PyTorch model (``PyTorchEngine``) or, with
``--engine``, by a deployed engine file (``.onnx`` ONNX Runtime, ``.xml``
OpenVINO, ``.engine``/``.plan`` TensorRT; ``--threads`` caps CPU threads). Boxes
above ``--score-thr`` are drawn with class name and score, and in the corner
the frames/s of the last 30 frames (preprocessing + model + postprocessing;
not reading, drawing, writing) and the engine's name. Class names come from the
checkpoint's ``meta.dataset_meta``, else from the config's test dataset.

``--out`` is an mp4 (``mp4v``) at the source's frame rate (30 when a camera
does not tell). A camera runs until ``--max-frames``, ``q``/Esc in the
``--show`` window, or Ctrl-C.
"""
import argparse
import os
import os.path as osp
import sys
import time
from collections import deque
from typing import Callable, Tuple

import cv2
import numpy as np

# Class names found as tools/image_demo.py finds them (this script's folder is
# on sys.path, as for any ``python tools/SCRIPT.py``).
from image_demo import checkpoint_meta, class_meta

WINDOW = 'video_demo'  # of --show
FPS_WINDOW = 30  # frames the on-screen frames/s is averaged over
COLORS = [(0, 255, 0), (255, 128, 0), (0, 0, 255), (255, 0, 255), (0, 255, 255),
          (255, 255, 0)]  # BGR, one per class, cycled


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run a detector on a video or camera')
    parser.add_argument('source', help='video file, or camera index (e.g. 0)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (loaded weights-only)')
    parser.add_argument('--engine', help='deployed engine file (.onnx, .xml, .engine, '
                        '.plan); default: the PyTorch model')
    parser.add_argument('--out', default='outputs/video_demo.mp4', help='output video')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detections below this score are not drawn')
    parser.add_argument('--device', default='cpu', help='PyTorch model device, e.g. cuda:0')
    parser.add_argument('--max-frames', type=int, help='stop after this many frames')
    parser.add_argument('--show', action='store_true', help='also show the frames')
    parser.add_argument('--threads', type=int, help='CPU threads of the engine')
    return parser.parse_args()


def frame_preprocess(cfg) -> Callable[[np.ndarray], np.ndarray]:
    """BGR uint8 frame [h, w, 3] -> float32 network input [1, 3, H, W]: the
    test pipeline's resize (mmcv's, with its interpolation) and the exported
    graph's normalisation, so every engine sees what ``load_inputs`` gives."""
    import mmcv
    import torch

    from ssd_ext.deployment import GraphPreprocess
    from ssd_ext.utils.inference_input import (RESIZE_TYPES, inference_pipeline_cfg,
                                               input_size_from_cfg)
    h, w = input_size_from_cfg(cfg)
    resize = next(t for t in inference_pipeline_cfg(cfg) if t['type'] in RESIZE_TYPES)
    normalise = GraphPreprocess(cfg.model.get('data_preprocessor') or {}, 'bgr')

    def preprocess(frame: np.ndarray) -> np.ndarray:
        img = mmcv.imresize(frame, (w, h), interpolation=resize.get('interpolation', 'bilinear'),
                            backend=resize.get('backend', 'cv2'))
        with torch.no_grad():
            return normalise(torch.from_numpy(img)[None]).numpy()
    return preprocess


def detect_frame(engine, frame: np.ndarray, preprocess, input_size: Tuple[int, int],
                 score_thr: float = 0.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes [N, 4] in frame pixels, scores [N], labels [N])`` of one frame,
    padding and scores below ``score_thr`` removed."""
    dets, labels = engine(preprocess(frame))
    keep = (labels[0] >= 0) & (dets[0, :, 4] >= score_thr)
    (fh, fw), (h, w) = frame.shape[:2], input_size
    boxes = dets[0, keep, :4] * np.array([fw / w, fh / h, fw / w, fh / h], np.float32)
    return boxes, dets[0, keep, 4], labels[0, keep]


def draw(frame: np.ndarray, boxes, scores, labels, classes, banner: str) -> None:
    for box, score, label in zip(boxes, scores, labels):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        color = COLORS[int(label) % len(COLORS)]
        name = classes[label] if label < len(classes) else str(int(label))
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, 2)
        cv2.putText(frame, f'{name} {score:.2f}', (x1, max(y1 - 4, 12)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    (tw, th), _ = cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
    cv2.rectangle(frame, (0, 0), (tw + 10, th + 12), (0, 0, 0), -1)  # readable on any image
    cv2.putText(frame, banner, (5, th + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                (255, 255, 255), 2, cv2.LINE_AA)


def can_show() -> bool:
    # Checked first: without a display, Qt aborts the process instead of raising.
    if sys.platform == 'linux' and not (os.environ.get('DISPLAY')
                                        or os.environ.get('WAYLAND_DISPLAY')):
        return False
    try:
        cv2.namedWindow(WINDOW)
    except cv2.error:  # opencv-python-headless
        return False
    return True


def open_source(source: str) -> cv2.VideoCapture:
    if source.isdigit() and not osp.exists(source):
        cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            sys.exit(f'error: camera index {source} could not be opened')
        return cap
    if not osp.isfile(source):
        sys.exit(f'error: video file not found: {source}')
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        sys.exit(f'error: video file {source} could not be opened by OpenCV')
    return cap


def main() -> int:
    args = parse_args()
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint'),
                       (args.engine, 'engine file')):
        if path is not None and not osp.isfile(path):
            sys.exit(f'error: {what} not found: {path}')
    if args.max_frames is not None and args.max_frames < 1:
        sys.exit(f'error: --max-frames must be at least 1, got {args.max_frames}')
    cap = open_source(args.source)

    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ssd_ext.apis import build_detector
    from ssd_ext.deployment.backends import PyTorchEngine, load_engine
    from ssd_ext.utils.inference_input import input_size_from_cfg

    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    try:
        meta, meta_source = class_meta(cfg, checkpoint_meta(args.checkpoint))
        input_size = input_size_from_cfg(cfg)
        if args.engine is not None:
            engine = load_engine(args.engine, args.threads)
            engine.check_input_size(input_size, f'config {args.config}')
        else:
            if args.threads:
                torch.set_num_threads(args.threads)
            engine = PyTorchEngine(build_detector(cfg, args.checkpoint, device=args.device))
    except (FileNotFoundError, ValueError, RuntimeError, ImportError) as err:
        sys.exit(f'error: {err}')
    classes = list(meta['classes'])
    print(f'classes (from the {meta_source}): {classes}')
    preprocess = frame_preprocess(cfg)

    ok, frame = cap.read()
    if not ok:
        sys.exit(f'error: no frame could be read from {args.source}')
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and fps > 0 else 30.0  # cameras often report 0
    try:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    except OSError as err:
        sys.exit(f'error: cannot create the folder of --out {args.out}: {err}')
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (frame.shape[1], frame.shape[0]))
    if not writer.isOpened():
        sys.exit(f'error: could not open {args.out} for writing (mp4v)')
    show = args.show and can_show()
    if args.show and not show:
        print('--show ignored: no display, or an OpenCV without windows (headless)')

    total, recent, n = 0.0, deque(maxlen=FPS_WINDOW), 0
    try:
        while ok and (args.max_frames is None or n < args.max_frames):
            t = time.perf_counter()
            boxes, scores, labels = detect_frame(engine, frame, preprocess, input_size,
                                                 args.score_thr)
            recent.append(time.perf_counter() - t)
            total += recent[-1]
            draw(frame, boxes, scores, labels, classes,
                 f'FPS {len(recent) / sum(recent):.1f} ({engine.name})')
            writer.write(frame)
            n += 1
            if show:
                cv2.imshow(WINDOW, frame)
                if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
                    break
            ok, frame = cap.read()
    except KeyboardInterrupt:  # a camera's usual stop: keep what was written
        pass
    finally:
        cap.release()
        writer.release()
        if show:
            cv2.destroyAllWindows()
    print(f'{n} frames, mean {n / max(total, 1e-9):.1f} fps ({engine.name}, '
          f'preprocessing + model + postprocessing): {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
