"""Export a whole SSD detector (network + box decoding + per-class NMS) to ONNX.

``python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx [--opset 17]
[--input-size H W] [--with-preprocess [--channel-order bgr|rgb]]
[--verify IMG_OR_DIR [--score-thr 0.05] [--top-n 50] [--box-atol 0.01]
[--score-atol 1e-4]]``

The graph (opset 17 by default, 11 at least: ONNX ``NonMaxSuppression``) has a
dynamic batch axis and fixed-shape outputs:

- ``dets`` float32 [B, K, 5]: ``(x1, y1, x2, y2, score)`` per row, sorted by
  score, in network-input pixels; K = ``model.test_cfg.max_per_img``; padding
  rows are all zero.
- ``labels`` int64 [B, K]: class index, -1 in padding rows.

Input ``images``: float32 [B, 3, H, W] normalised as the model's data
preprocessor does it, or with ``--with-preprocess`` uint8 [B, H, W, 3] images
resized to H x W (BGR as OpenCV reads them; ``--channel-order rgb`` for RGB):
cast, channel swap and mean/std run inside the graph. H x W is the test
pipeline's resize unless ``--input-size`` is given.

``--verify`` runs onnxruntime (CPU) on the given images and compares with
PyTorch's ``model.predict(..., rescale=True)``: the top ``--top-n``
detections above ``--score-thr`` of each side must match one of the other
(same label, boxes within ``--box-atol`` px in the original image, scores
within ``--score-atol``). Exit status 1 on a mismatch.
"""
import argparse
import os
import os.path as osp
import sys
import time

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export an ssd_ext detector to ONNX')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (loaded weights-only)')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--opset', type=int,
                        help='ONNX opset (>= 11); default: ssd_ext.deployment.DEFAULT_OPSET')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="network input size; default: the test pipeline's resize")
    parser.add_argument('--with-preprocess', action='store_true',
                        help='take uint8 [B, H, W, 3] images; normalise in the graph')
    parser.add_argument('--channel-order', choices=['bgr', 'rgb'], default='bgr',
                        help='channel order of the uint8 input (--with-preprocess)')
    parser.add_argument('--verify', metavar='IMG_OR_DIR',
                        help='compare onnxruntime with PyTorch on these images')
    parser.add_argument('--score-thr', type=float, default=0.05,
                        help='--verify: compare detections above this score')
    parser.add_argument('--top-n', type=int, default=50,
                        help='--verify: compare at most this many per image and side')
    parser.add_argument('--box-atol', type=float, default=1e-2,
                        help='--verify: box tolerance, pixels of the original image')
    parser.add_argument('--score-atol', type=float, default=1e-4,
                        help='--verify: score tolerance')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='--verify: images per onnxruntime/PyTorch batch')
    return parser.parse_args()


def verify(model, onnx_file: str, path: str, args) -> bool:
    import onnxruntime as ort

    from ssd_ext.deployment import (compare_detections, load_inputs, onnx_detections,
                                    torch_detections)
    from ssd_ext.utils.images import image_files
    files = image_files(path)
    sess = ort.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    all_ok, worst_box, worst_score, compared = True, 0.0, 0.0, 0
    print(f'verifying on {len(files)} image(s): top {args.top_n} detections above '
          f'{args.score_thr}, box atol {args.box_atol} px, score atol {args.score_atol}')
    for start in range(0, len(files), args.batch_size):
        chunk = files[start:start + args.batch_size]
        data, raw = load_inputs(model, chunk)
        ref = torch_detections(model, data)
        feed = raw if args.with_preprocess else data['inputs'].numpy()
        if args.with_preprocess and args.channel_order == 'rgb':
            feed = np.ascontiguousarray(feed[..., ::-1])
        dets, labels = sess.run(None, {'images': feed})
        got = onnx_detections(dets, labels, data['data_samples'])
        for f, r, o in zip(chunk, ref, got):
            rep = compare_detections(r, o, args.score_thr, args.top_n,
                                     args.box_atol, args.score_atol)
            status = 'OK' if rep['ok'] else 'MISMATCH'
            print(f'  {status:8s} {osp.basename(f)}: {rep["compared"]} matched '
                  f'(pytorch {len(r["scores"])} / onnx {len(o["scores"])} dets), '
                  f'max box diff {rep["max_box_diff"]:.2e} px, '
                  f'max score diff {rep["max_score_diff"]:.2e}')
            for u in rep['unmatched'][:5]:
                print(f'           unmatched {u["side"]} det: label {u["label"]} '
                      f'score {u["score"]:.5f} box {u["box"]}')
            all_ok &= rep['ok']
            worst_box = max(worst_box, rep['max_box_diff'])
            worst_score = max(worst_score, rep['max_score_diff'])
            compared += rep['compared']
    print(f'{"PASSED" if all_ok else "FAILED"}: {compared} detections matched, '
          f'max box diff {worst_box:.2e} px, max score diff {worst_score:.2e}')
    return all_ok


def main() -> int:
    args = parse_args()
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            sys.exit(f'error: {what} not found: {path}')
    if args.verify is not None and not osp.exists(args.verify):
        sys.exit(f'error: --verify path not found: {args.verify}')
    from mmengine.config import Config

    from ssd_ext.apis import build_detector
    from ssd_ext.deployment import DEFAULT_OPSET, export_onnx
    from ssd_ext.utils.inference_input import input_size_from_cfg, set_input_size
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    cfg = Config.fromfile(args.config)
    if args.input_size:  # --verify then resizes to it as well
        set_input_size(cfg, args.input_size)
    size = input_size_from_cfg(cfg)
    model = build_detector(cfg, args.checkpoint)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    t = time.time()
    export_onnx(model, args.out, size, opset=opset,
                with_preprocess=args.with_preprocess, channel_order=args.channel_order)
    head = model.bbox_head
    k = head.test_cfg.max_per_img
    inp = (f'uint8 [B, {size[0]}, {size[1]}, 3] ({args.channel_order.upper()})'
           if args.with_preprocess else f'float32 [B, 3, {size[0]}, {size[1]}] (normalised)')
    print(f'exported {args.out} in {time.time() - t:.1f} s (opset {opset})\n'
          f'  input  images: {inp}\n'
          f'  output dets:   float32 [B, {k}, 5] (x1, y1, x2, y2, score), input pixels\n'
          f'  output labels: int64 [B, {k}] ({head.num_classes} classes, -1 = padding)')
    if args.verify is not None:
        return 0 if verify(model, args.out, args.verify, args) else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
