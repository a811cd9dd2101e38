"""Train an ssd_ext detector: ``python tools/train.py CONFIG [options]``.

The arguments are MMDetection's. ``--amp`` means CUDA AMP (fp16 with dynamic
loss scaling) on a GPU, bf16 autocast on a CPU that computes bf16 natively and
fp32 on other CPUs, where bf16 is slower (``ssd_ext/engine/precision/amp_choice.py``).
"""
import argparse

from ssd_ext.engine.launch import add_runner_args, build_runner, destroy_dist, load_config
from ssd_ext.engine.launch.restarts import resume_after_restart


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train an ssd_ext detector')
    parser.add_argument('config', help='train config file path')
    add_runner_args(parser)
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CHECKPOINT, or without a value from the '
                        'latest checkpoint in the work dir')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError(f'{args.config} has no auto_scale_lr.base_batch_size; '
                           'it is needed by --auto-scale-lr')
        cfg.auto_scale_lr.enable = True
    args.resume = resume_after_restart(args.resume, cfg.work_dir)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    runner = build_runner(cfg, amp=args.amp, amp_dtype=args.amp_dtype, training=True,
                          channels_last=args.channels_last)
    try:
        runner.train()
        destroy_dist(synchronize=True)
    finally:
        destroy_dist()


if __name__ == '__main__':
    main()
