"""--channels-last: NHWC where it pays; ChannelsLastHook makes the detector's
weights, hence its conv outputs, NHWC."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from ssd_ext.engine.memory_format import (ChannelsLastHook, channels_last_pays,
                                          resolve_channels_last)


def test_hook_converts_the_model_so_convolutions_return_nhwc():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    ChannelsLastHook().before_run(SimpleNamespace(model=model))
    for conv in (model[0], model[2]):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    out = model(torch.randn(1, 3, 8, 8))  # an NCHW input: only the first conv converts
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('isa, trains_nhwc', [('AVX2', False), ('AVX512', True)])
def test_channels_last_is_kept_for_training_only_where_it_pays(monkeypatch, isa, trains_nhwc):
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability', lambda: isa)
    assert channels_last_pays(training=True, cuda=False) is trains_nhwc
    assert channels_last_pays(training=False, cuda=False)
    assert channels_last_pays(training=True, cuda=True)


@pytest.mark.parametrize('requested, amp_dtype, cuda, expected', [
    (None, 'float16', True, True),     # CUDA AMP: cuDNN's tensor-core convs are NHWC
    (None, 'bfloat16', True, True),
    (None, None, True, False),         # fp32 on a GPU
    (None, 'bfloat16', False, False),  # CPUs: a choice, measured per machine
    (False, 'float16', True, False),   # --no-channels-last
    (True, None, False, True),         # --channels-last
])
def test_channels_last_default_is_nhwc_under_cuda_autocast_only(requested, amp_dtype, cuda,
                                                                expected):
    assert resolve_channels_last(requested, amp_dtype, cuda=cuda) is expected
