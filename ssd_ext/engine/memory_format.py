"""``--channels-last``: the whole detector in NHWC memory format, where it pays.

oneDNN (CPU, AMX/AVX-512) and cuDNN run convolutions fastest on NHWC; with the
weights in channels_last, every conv also returns NHWC, so after the first layer
no layout conversions remain.
"""
from typing import Optional

import torch
from mmengine.hooks import Hook

from ssd_ext.registry import HOOKS
from ssd_ext.utils.model import unwrap_model


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Converts the model to ``torch.channels_last`` before training or testing."""

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        unwrap_model(runner.model).to(memory_format=torch.channels_last)


def channels_last_pays(training: bool, cuda: Optional[bool] = None) -> bool:
    """Whether ``--channels-last`` speeds this run up here.

    NHWC is oneDNN's and cuDNN's fast layout for inference everywhere, and for
    training on GPUs and AVX-512 CPUs. On AVX2-only CPUs oneDNN's NHWC backward
    convolutions are slower than NCHW (docs/benchmarks.md), while inference gains.
    """
    if cuda is None:
        cuda = torch.cuda.is_available()
    return (cuda or not training
            or torch.backends.cpu.get_cpu_capability().startswith('AVX512'))


def resolve_channels_last(requested: Optional[bool], amp_dtype: Optional[str],
                          cuda: Optional[bool] = None) -> bool:
    """Whether ``--channels-last`` / ``--no-channels-last`` (``requested``) or,
    with neither (``None``), the default asks for NHWC.

    The default is NHWC under CUDA autocast: cuDNN's fp16/bf16 tensor-core
    convolutions are NHWC kernels, so an NCHW model pays a transpose around
    every conv; NCHW elsewhere (on CPUs the flag stays a choice, see
    :func:`channels_last_pays`).
    """
    if requested is not None:
        return requested
    if cuda is None:
        cuda = torch.cuda.is_available()
    return cuda and amp_dtype is not None
