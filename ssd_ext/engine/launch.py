"""Runner construction shared by ``tools/train.py`` and ``tools/test.py``.

Adds what MMEngine 0.10.7 lacks for CPU-only machines: distributed runs use the
gloo backend and a CPU ``DistributedDataParallel`` (no ``device_ids``), and
``--amp`` maps to bf16 autocast instead of CUDA's ``AmpOptimWrapper``.
"""
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def adapt_to_device(cfg: Config) -> None:
    """Switches a GPU-oriented config to what works on this machine's device."""
    if torch.cuda.is_available() or cfg.get('launcher', 'none') == 'none':
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or
                   dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config, training: bool) -> None:
    """``--amp``: CUDA AMP on a GPU, bf16 autocast on a CPU."""
    if training:
        wrapper = cfg.optim_wrapper
        if wrapper.get('type', 'OptimWrapper') not in ('OptimWrapper',
                                                       'AmpOptimWrapper',
                                                       'CPUAutocastOptimWrapper'):
            raise ValueError(f'--amp cannot replace optim_wrapper type '
                             f'{wrapper.type!r}; set it in the config instead')
        if torch.cuda.is_available():
            wrapper.type = 'AmpOptimWrapper'
            wrapper.loss_scale = 'dynamic'
        else:
            wrapper.type = 'CPUAutocastOptimWrapper'
            wrapper.dtype = 'bfloat16'
    for loop in ('val_cfg', 'test_cfg'):
        if cfg.get(loop) is not None:
            cfg[loop]['fp16'] = True


def build_runner(cfg: Config, amp: bool = False, training: bool = True) -> Runner:
    """Runner for ``cfg`` with the machine adaptations and ``--amp`` applied."""
    import ssd_ext  # noqa: F401  (registers modules, checkpoint allow-list)
    adapt_to_device(cfg)
    if amp:
        enable_amp(cfg, training)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
