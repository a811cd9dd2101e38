"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Writes all metrics to ``WORK_DIR/metrics.json`` and prints the table that fits
each evaluator (``ssd_ext/utils/metric_tables.py``): COCO's AP, AP50, AP75,
APs, APm, APl; Pascal VOC's mAP with per-class AP (11-point or area, as
configured); both when both are configured; a plain key/value table for other
metrics. The checkpoint is loaded weights-only: a file that carries other
pickled objects is refused rather than run.
"""
import argparse
import json
import os.path as osp

from ssd_ext.utils.checkpoint_io import atomic_write
from ssd_ext.engine.launch import add_runner_args, build_runner, destroy_dist, load_config
from ssd_ext.utils.checkpoint_io import safe_load
from ssd_ext.utils.metric_tables import format_metrics, jsonable_metrics, voc_eval_modes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test an ssd_ext detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_runner_args(parser)
    parser.add_argument('--out', help='dump predictions to a pickle file (.pkl)')
    parser.add_argument('--show-dir', help='dir to save drawn detections, '
                        'relative to the work dir\'s timestamped folder')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold of drawn detections')
    parser.add_argument('--compile', action='store_true',
                        help='compile the network with TorchInductor (weights frozen; '
                        'the first batch of each shape pays the compilation)')
    args = parser.parse_args()
    if args.out and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must be a .pkl file, got {args.out}')
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    # Fail before building anything if the checkpoint is missing or unsafe.
    try:
        safe_load(args.checkpoint, mmap=True)
    except (FileNotFoundError, RuntimeError) as err:
        raise SystemExit(f'error: {err}') from None
    cfg.load_from = args.checkpoint
    if args.show_dir:
        vis = cfg.get('default_hooks', {}).get('visualization')
        if vis is None:
            raise SystemExit(f'error: --show-dir draws through default_hooks.visualization '
                             f'(mmdet DetVisualizationHook), which {args.config} lacks')
        vis.update(draw=True, test_out_dir=args.show_dir, score_thr=args.score_thr)
    if args.compile:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='CompileForTestHook')]
    runner = build_runner(cfg, amp=args.amp, amp_dtype=args.amp_dtype, training=False,
                          channels_last=args.channels_last)
    if args.out:
        from mmdet.evaluation import DumpDetResults
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    try:
        metrics = runner.test()
        if runner.rank == 0:
            # Written before the table is formatted, and atomically (a kill
            # leaves the previous metrics.json, never a torn one).
            out = osp.join(cfg.work_dir, 'metrics.json')
            atomic_write(out, json.dumps(jsonable_metrics(metrics), indent=2, default=str))
            print(format_metrics(metrics, title=osp.basename(args.config),
                                 voc_eval_modes=voc_eval_modes(runner.test_evaluator.metrics)))
            print(f'metrics written to {out}')
        destroy_dist(synchronize=True)
    finally:
        destroy_dist()


if __name__ == '__main__':
    main()
