"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]``.

Prints the COCO table (AP, AP50, AP75, APs, APm, APl) and writes all metrics to
``WORK_DIR/metrics.json``. The checkpoint is loaded weights-only: a file that
carries other pickled objects is refused rather than run.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.config import Config, DictAction

from ssd_ext.engine.launch import build_runner
from ssd_ext.utils.checkpoint import safe_load
from ssd_ext.utils.report import format_coco_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test an ssd_ext detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='dir for the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file (.pkl)')
    parser.add_argument('--show-dir', help='dir to save drawn detections, '
                        'relative to the work dir\'s timestamped folder')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='score threshold of drawn detections')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision inference (bf16 autocast on CPU)')
    parser.add_argument('--channels-last', action='store_true',
                        help='run the model in channels_last (NHWC) memory format')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    # Fail before building anything if the checkpoint is missing or unsafe.
    safe_load(args.checkpoint)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.update(draw=True, test_out_dir=args.show_dir, score_thr=args.score_thr)
    runner = build_runner(cfg, amp=args.amp, training=False,
                          channels_last=args.channels_last)
    if args.out:
        from mmdet.evaluation import DumpDetResults
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    metrics = runner.test()
    if runner.rank == 0:
        print(format_coco_table(metrics, title=osp.basename(args.config)))
        os.makedirs(cfg.work_dir, exist_ok=True)
        out = osp.join(cfg.work_dir, 'metrics.json')
        with open(out, 'w') as f:
            json.dump({k: float(v) if isinstance(v, (int, float)) else v
                       for k, v in metrics.items()}, f, indent=2)
        print(f'metrics written to {out}')


if __name__ == '__main__':
    main()
