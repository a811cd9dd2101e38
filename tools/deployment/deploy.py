"""Build deployable engines of a detector and measure each beside PyTorch on
the same images: accuracy, agreement with PyTorch's detections, and speed.

``python tools/deployment/deploy.py CONFIG CHECKPOINT [--backends B ...]
[--work-dir work_dirs/deploy] [--calib train|val|test|DIR] [--calib-num 64]
[--calib-method minmax|entropy|percentile] [--fp32-layers REGEX ...]
[--threads N] [--batch-size 8] [--speed-batches 1 8] [--repeats 10]
[--no-speed] [--max-images N] [--check [--max-ap50-drop 1.0]]
[--cfg-options KEY=VALUE ...]``

Backends (default: every one this machine can build; the others are listed
as skipped, with what they need):

- ``pytorch``: ``model.predict`` in fp32, the reference of every comparison;
- ``pytorch-bf16``: bf16 autocast + channels_last + compiled network (native
  bf16 CPUs: AMX or AVX512-BF16), ``tools/test.py``'s fast CPU path;
- ``onnxruntime-fp32``, ``onnxruntime-int8``: the whole-detector ONNX export,
  and its static INT8 quantisation (QDQ, per-channel int8 weights, uint8
  activations) calibrated on ``--calib-num`` images of ``--calib``;
- ``openvino-fp32``, ``openvino-int8``: the export on OpenVINO's CPU plugin,
  and its INT8 by OpenVINO's own post-training quantiser (NNCF) on the same
  calibration images;
- ``tensorrt-fp16``, ``tensorrt-int8``: TensorRT on a CUDA GPU (INT8 from a
  symmetric QDQ model on the same calibration images).

INT8 keeps in fp32 what :mod:`ssd_ext.deployment.backends.int8_scope` lists
(box decoding, softmax and NMS; L2Norm) and the nodes ``--fp32-layers``
matches; the table's build report says so.

Each engine runs on the config's test split (``test_dataloader``): AP/AP50 by
the config's ``test_evaluator`` from its own detections; "same as ref" is the
export's parity check against PyTorch (boxes within 1e-2 px, scores within
1e-4, every image); "recall of ref" is the share of PyTorch's detections
scoring >= 0.3 it finds (same label, IoU >= 0.5), with the largest box and
score differences of those matches. Speed is the median latency at each of
``--speed-batches`` (1 and 8) on the first images of the split (preprocessing
excluded, decoding and NMS included), with ``--threads`` threads (default:
every core) for every CPU backend; a GPU engine's speed-up is against PyTorch
on the CPU. The table is printed and written with the
machine's name to ``WORK_DIR/deploy.json``.

Every engine file gets a probe beside it (``FILE.probe.npz``: the first test
images and the detections expected on them, PyTorch fp32's for fp32 engines,
the engine's own for INT8), which ``load_engine`` runs wherever the file is
opened (``tools/video_demo.py`` included).

``--check`` exits 1 when an fp32 engine fails the parity check, a
reduced-precision engine loses more than ``--max-ap50-drop`` AP50 points
against PyTorch fp32, or a backend named in ``--backends`` was skipped.
``--max-images N`` evaluates the first N test images only: a smoke run, whose
AP counts the annotation file's other images as missed.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Tuple

import numpy as np
from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    from ssd_ext.deployment.backends.build import BACKENDS
    from ssd_ext.deployment.backends.onnxruntime_int8 import CALIBRATION_METHODS
    parser = argparse.ArgumentParser(description='Build and measure deployment engines')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (loaded weights-only)')
    parser.add_argument('--backends', nargs='+', choices=BACKENDS,
                        help='default: every backend this machine can build')
    parser.add_argument('--work-dir', default='work_dirs/deploy',
                        help='where engine files and deploy.json are written')
    parser.add_argument('--calib', default='train',
                        help="calibration images: 'train', 'val' or 'test' (the config's "
                             'split) or a folder of images')
    parser.add_argument('--calib-num', type=int, default=64,
                        help='number of calibration images, spread over --calib')
    parser.add_argument('--calib-method', default='minmax', choices=CALIBRATION_METHODS,
                        help="ONNX Runtime's activation ranges (NNCF uses its own)")
    parser.add_argument('--fp32-layers', nargs='+', default=[], metavar='REGEX',
                        help='network node names (e.g. ^/bbox_head/) kept in fp32 by INT8')
    parser.add_argument('--threads', type=int, default=os.cpu_count(),
                        help='threads of every CPU backend, PyTorch included')
    parser.add_argument('--batch-size', type=int, default=8, help='evaluation batch size')
    parser.add_argument('--speed-batches', type=int, nargs='+', default=[1, 8])
    parser.add_argument('--repeats', type=int, default=10, help='timed calls per batch size')
    parser.add_argument('--no-speed', action='store_true', help='skip the speed columns')
    parser.add_argument('--max-images', type=int,
                        help='evaluate on the first N test images only (a quick look)')
    parser.add_argument('--check', action='store_true',
                        help='exit 1 on failed parity or a larger AP50 drop')
    parser.add_argument('--max-ap50-drop', type=float, default=1.0,
                        help='--check: AP50 points a reduced-precision engine may lose')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args()


def build_engines(builder, backends: List[str]) -> Tuple[Dict, Dict]:
    """``(engines, results)``: each backend's engine, and per backend its build
    report or why it was skipped."""
    from ssd_ext.deployment.backends.build import unavailable
    engines, results = {}, {}
    for backend in backends:
        reason = unavailable(backend)
        if reason:
            print(f'{backend}: skipped, {reason}')
            results[backend] = dict(skipped=reason)
            continue
        print(f'{backend}: building')
        engines[backend], build = builder.build(backend)
        results[backend] = dict(build=build)
        for key in ('file', 'probe', 'calibration_images', 'quantised', 'kept_fp32', 'fp32'):
            if key in build:
                print(f'  {key}: {build[key]}')
    return engines, results


def probe_inputs(model, cfg) -> np.ndarray:
    """The first test images as network input [N, 3, H, W]: what each engine
    file's probe records."""
    from ssd_ext.deployment import load_inputs
    from ssd_ext.deployment.backends.probe import PROBE_IMAGES
    from ssd_ext.deployment.calibration import split_image_files
    return load_inputs(model, split_image_files(cfg, 'test')[:PROBE_IMAGES])[0]['inputs'].numpy()


def speed_inputs(model, cfg, largest: int) -> np.ndarray:
    """The first ``largest`` test images as network input [N, 3, H, W]; a
    smaller split's images repeated (and said so)."""
    from ssd_ext.deployment import load_inputs
    from ssd_ext.deployment.calibration import split_image_files
    files = split_image_files(cfg, 'test')[:largest]
    inputs = load_inputs(model, files)[0]['inputs'].numpy()
    if len(inputs) < largest:
        print(f'  timing batches of up to {largest} from the {len(inputs)} test images, '
              'repeated')
        inputs = np.resize(inputs, (largest, *inputs.shape[1:]))
    return inputs


def check_failures(rows: List[Dict], args) -> List[str]:
    """``--check``'s failures: the report's, and any backend asked for by name
    that was skipped (a gate must not pass on what it did not measure)."""
    from ssd_ext.deployment.deploy_table import failed_checks
    failures = failed_checks(rows, args.max_ap50_drop)
    failures += [f"{r['engine']}: asked for, but skipped ({r['skipped']})"
                 for r in rows if 'skipped' in r and args.backends
                 and r['engine'] in args.backends]
    return failures


def main() -> int:
    args = parse_args()
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            sys.exit(f'error: {what} not found: {path}')
    import torch
    from mmengine.config import Config

    from ssd_ext.apis import build_detector
    from ssd_ext.deployment.backends.build import BACKENDS, EngineBuilder
    from ssd_ext.deployment.calibration import SPLITS, calibration_files, calibration_inputs
    from ssd_ext.deployment.deploy_table import deploy_rows, format_table
    from ssd_ext.deployment.evaluate import evaluate_engines
    from ssd_ext.deployment.timing import time_engine
    from ssd_ext.engine.launch.loader_workers import resolve_auto_workers
    from ssd_ext.utils.inference_input import input_size_from_cfg
    from ssd_ext.utils.machine import machine_description

    if args.calib not in SPLITS and not osp.exists(args.calib):
        sys.exit(f'error: --calib is neither a split ({", ".join(SPLITS)}) nor a path: '
                 f'{args.calib}')
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    resolve_auto_workers(cfg)  # the paper configs say num_workers='auto'
    model = build_detector(cfg, args.checkpoint)
    os.makedirs(args.work_dir, exist_ok=True)

    def calibration():
        files = calibration_files(cfg, args.calib, args.calib_num)
        print(f'calibrating on {len(files)} images of {args.calib}')
        return calibration_inputs(model, files)

    builder = EngineBuilder(model, args.work_dir, input_size_from_cfg(cfg), calibration,
                            args.threads, args.calib_method, args.fp32_layers,
                            max(args.batch_size, *args.speed_batches),
                            probe_inputs(model, cfg))
    wanted = list(args.backends or BACKENDS)
    if 'pytorch' not in wanted:
        wanted.insert(0, 'pytorch')  # the reference
    engines, results = build_engines(builder, wanted)
    print(f'evaluating {len(engines)} engines on the test split')
    evaluated = evaluate_engines(engines, model, args.batch_size, max_images=args.max_images)
    for name, res in evaluated.items():
        results[name].update(res)
    if not args.no_speed:
        inputs = speed_inputs(model, cfg, max(args.speed_batches))
        for name, engine in engines.items():
            results[name]['speed'] = {b: time_engine(engine, inputs[:b], repeats=args.repeats)
                                      for b in args.speed_batches}
            print(f'  timed {name}')
    rows = deploy_rows(results, 'pytorch', args.speed_batches)
    machine = machine_description('cuda' if any(e.device == 'cuda' for e in engines.values())
                                  else 'cpu')
    print(f'\n{machine}, {args.threads} threads; reference: pytorch fp32')
    print(format_table(rows, args.speed_batches))
    out = osp.join(args.work_dir, 'deploy.json')
    with open(out, 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint, machine=machine,
                       threads=args.threads, calib=args.calib, calib_num=args.calib_num,
                       calib_method=args.calib_method, rows=rows), f, indent=1)
    print(f'written: {out}')
    if args.check:
        failures = check_failures(rows, args)
        for failure in failures:
            print(f'CHECK FAILED: {failure}')
        return 1 if failures else 0
    return 0


if __name__ == '__main__':
    sys.exit(main())
