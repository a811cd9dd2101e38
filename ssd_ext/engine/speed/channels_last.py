"""channels_last memory format for the whole detector.

oneDNN (CPU, AMX/AVX-512) and cuDNN run convolutions fastest on NHWC; with the
weights in channels_last, every conv also returns NHWC, so after the first layer
no layout conversions remain.
"""
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
