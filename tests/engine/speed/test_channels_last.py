"""ChannelsLastHook: the detector's weights, hence its conv outputs, are NHWC."""
from types import SimpleNamespace

import torch
from torch import nn

from ssd_ext.engine.speed.channels_last import ChannelsLastHook


def test_hook_converts_the_model_so_convolutions_return_nhwc():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    ChannelsLastHook().before_run(SimpleNamespace(model=model))
    for conv in (model[0], model[2]):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    out = model(torch.randn(1, 3, 8, 8))  # an NCHW input: only the first conv converts
    assert out.is_contiguous(memory_format=torch.channels_last)
