"""CeilMaxPool2x2 gives nn.MaxPool2d(2, 2, ceil_mode=True)'s values on every path."""
import pytest
import torch
from torch import nn

from ssd_ext.models.layers import CeilMaxPool2x2


@pytest.mark.parametrize('shape', [(2, 3, 8, 10), (2, 3, 75, 75), (1, 4, 5, 2), (1, 1, 1, 1)])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_same_values_as_maxpool(shape, channels_last, dtype):
    x = torch.randn(shape).to(dtype)
    x[0, 0, 0, 0] = float('nan')
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    reference = nn.MaxPool2d(2, 2, ceil_mode=True)(x)
    with torch.no_grad():
        out = CeilMaxPool2x2()(x)
    assert out.shape == reference.shape
    torch.testing.assert_close(out, reference, rtol=0, atol=0, equal_nan=True)


def test_gradients_go_to_the_argmax_like_maxpool():
    x = torch.randn(2, 3, 7, 9, requires_grad=True)
    grad_out = torch.randn(2, 3, 4, 5)
    ours = torch.autograd.grad(CeilMaxPool2x2()(x), x, grad_out)[0]
    ref = torch.autograd.grad(nn.MaxPool2d(2, 2, ceil_mode=True)(x), x, grad_out)[0]
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
