"""Train an ssd_ext detector: ``python tools/train.py CONFIG [options]``.

The arguments are MMDetection's. ``--amp`` means CUDA AMP (fp16 with dynamic
loss scaling) on a GPU and bf16 autocast on a CPU.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from ssd_ext.engine.launch import build_runner


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an ssd_ext detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: CUDA AMP on GPU, bf16 autocast on CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CHECKPOINT, or without a value from the '
                        'latest checkpoint in the work dir')
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
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f'{args.config} has no auto_scale_lr.base_batch_size; '
                           'it is needed by --auto-scale-lr')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    runner = build_runner(cfg, amp=args.amp, training=True,
                          channels_last=args.channels_last)
    runner.train()


if __name__ == '__main__':
    main()
