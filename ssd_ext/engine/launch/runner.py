"""The Runner of ``tools/train.py`` and ``tools/test.py``: the config adapted to
this machine (gloo and CPU DDP without GPUs, ``num_workers='auto'``, ``--amp``,
``--channels-last``, ``PreemptionHook``) before MMEngine builds it."""
import argparse
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.dist import is_distributed
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ssd_ext.engine.launch.cpu_dist import init_cpu_process_group
from ssd_ext.engine.launch.loader_workers import resolve_auto_workers
from ssd_ext.models.pretrained.config_check import check_pretrained_weights
from ssd_ext.engine.launch.restarts import add_preemption_hook
from ssd_ext.engine.memory_format import channels_last_pays, resolve_channels_last
from ssd_ext.engine.precision.amp_choice import AMP_DTYPES, log_amp_choice, resolve_amp_dtype

# Wrapper types --amp may swap for an autocasting one (MMEngine's AmpOptimWrapper
# too: its skipped steps are unsafe with fused SGD, see engine/precision/skip_safe_amp.py).
AMP_REPLACEABLE_WRAPPERS = ('OptimWrapper', 'AmpOptimWrapper', 'SkipSafeAmpOptimWrapper',
                            'CPUAutocastOptimWrapper')


def _cpu_distributed(cfg: Config) -> bool:
    return not torch.cuda.is_available() and cfg.get('launcher', 'none') != 'none'


def adapt_to_device(cfg: Config) -> None:
    """Switches a GPU-oriented config to what works on this machine's device."""
    if not _cpu_distributed(cfg):
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    # Without a model_wrapper_cfg MMEngine builds its DDP with these settings;
    # giving one here would otherwise silently drop them.
    wrapper = dict(cfg.get('model_wrapper_cfg') or
                   dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                        find_unused_parameters=cfg.get('find_unused_parameters',
                                                       False)))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def init_cpu_dist(cfg: Config) -> None:
    """Joins the process group of a CPU-only distributed run (gloo) before the
    Runner is built, which then skips its own ``init_dist`` (see ``cpu_dist.py``)."""
    if not _cpu_distributed(cfg) or is_distributed():
        return
    init_cpu_process_group(cfg.launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))


def enable_amp(cfg: Config, training: bool, dtype: str = 'auto') -> Optional[str]:
    """``--amp [--amp-dtype DTYPE]``: autocast where it pays on this machine
    (``ssd_ext/engine/precision/amp_choice.py``); returns the dtype chosen, ``None`` for fp32.

    On a GPU training uses ``SkipSafeAmpOptimWrapper`` (CUDA AMP whose skipped
    steps leave no uninitialised optimizer state), on a CPU
    ``CPUAutocastOptimWrapper``; where fp32 is chosen, a plain ``OptimWrapper``.
    Validation and test loops autocast to the device's default autocast dtype
    (fp16 on a GPU, bf16 on a CPU): MMEngine 0.10.7's loops take no other (docs/upstream.md). So
    another dtype leaves validation in fp32, and ``tools/test.py`` refuses it.
    """
    cuda = torch.cuda.is_available()
    chosen = resolve_amp_dtype(dtype, cuda)
    if training:
        wrapper = cfg.optim_wrapper
        if wrapper.get('type', 'OptimWrapper') not in AMP_REPLACEABLE_WRAPPERS:
            raise ValueError(f'--amp cannot replace optim_wrapper type '
                             f'{wrapper.type!r}; set it in the config instead')
    loop_default = 'float16' if cuda else 'bfloat16'
    if not training and chosen not in (None, loop_default):
        raise ValueError(f'--amp-dtype {chosen} for testing on this device: '
                         f"MMEngine's test loop autocasts to {loop_default} only")
    log_amp_choice(dtype, chosen, cuda)
    if training:
        for key in ('dtype', 'loss_scale'):
            wrapper.pop(key, None)
        if chosen is None:
            wrapper.type = 'OptimWrapper'
        elif cuda:
            wrapper.update(type='SkipSafeAmpOptimWrapper', loss_scale='dynamic',
                           dtype=chosen)
        else:
            wrapper.update(type='CPUAutocastOptimWrapper', dtype=chosen)
    if chosen == loop_default:
        for loop in ('val_cfg', 'test_cfg'):
            if cfg.get(loop) is not None:
                cfg[loop]['fp16'] = True
    return chosen


def destroy_dist(synchronize: bool = False) -> None:
    """Tears the process group down before the interpreter exits (left to exit,
    gloo's threads can abort the process: "terminate called without an active
    exception"). ``synchronize``, after this rank succeeded, first waits for
    every rank so none tears its connections down while another still works;
    not after an error, where the others may never reach the barrier."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if synchronize:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The arguments ``tools/train.py`` and ``tools/test.py`` share (MMDetection's)."""
    parser.add_argument('--work-dir', help='dir for logs, checkpoints and metrics')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision where it pays: CUDA AMP (fp16) on a GPU, '
                        'bf16 autocast on a CPU with native bf16, fp32 on other CPUs')
    parser.add_argument('--amp-dtype', choices=AMP_DTYPES, default='auto',
                        help='autocast dtype of --amp (default: chosen by the hardware)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction,
                        default=None,
                        help='run the model in channels_last (NHWC) memory format '
                        '(default: on under --amp on a GPU, off otherwise)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """``args.config`` with ``--cfg-options``, ``--launcher`` and ``--work-dir``
    applied (default work dir ``./work_dirs/<config name>``)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config, amp: bool = False, training: bool = True,
                 channels_last: Optional[bool] = None, amp_dtype: str = 'auto') -> Runner:
    """Runner for ``cfg`` with the machine adaptations (gloo on CPUs,
    ``num_workers='auto'``), ``--amp`` and ``--channels-last`` applied
    (``channels_last=None``: the device's default, see
    ``memory_format.resolve_channels_last``)."""
    import ssd_ext  # noqa: F401  (registers modules)
    # --resume and load_from read MMEngine's checkpoints weights-only.
    cfg.setdefault('default_hooks', {}).setdefault(
        'checkpoint_types', dict(type='AllowCheckpointTypesHook'))
    adapt_to_device(cfg)
    init_cpu_dist(cfg)
    resolve_auto_workers(cfg)
    if training:  # before any dataset is built (models/pretrained/config_check.py)
        check_pretrained_weights(cfg)
    if training:
        add_preemption_hook(cfg)
    autocast_dtype = enable_amp(cfg, training, amp_dtype) if amp else None
    requested, channels_last = channels_last, resolve_channels_last(channels_last,
                                                                    autocast_dtype)
    if requested is None and channels_last:
        print_log('channels_last: on, the default under CUDA autocast '
                  '(--no-channels-last turns it off)', logger='current')
    if channels_last and not channels_last_pays(training):
        print_log('--channels-last: not applied to training on this CPU (no AVX-512), '
                  'where NHWC backward convolutions are slower than NCHW', logger='current')
        channels_last = False
    if channels_last:
        hooks = list(cfg.get('custom_hooks', []))
        if not any(h.get('type') == 'ChannelsLastHook' for h in hooks):
            cfg.custom_hooks = hooks + [dict(type='ChannelsLastHook')]
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
