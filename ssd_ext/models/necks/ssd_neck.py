"""SSD's neck: L2Norm on conv4_3 and the extra feature layers after fc7.

Each extra level is a 1x1 conv to half the channels then a 3x3 conv (the last
level's kernel is configurable: 4 in SSD512), each followed by ReLU. Level shapes
come from the strides and paddings given, not from per-input-size tables:
SSD300 uses strides (2, 2, 1, 1) and paddings (1, 1, 0, 0) for 10, 5, 3, 1;
SSD512 uses strides (2, 2, 2, 2, 1), paddings 1 and a last kernel of 4.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ssd_ext.models.layers import NORM_INIT_CFG, conv_norm_relu
from ssd_ext.registry import MODELS


class L2Norm(nn.Module):
    """Normalises each position's channel vector to unit L2 norm, then scales it
    by a learned per-channel weight (init ``scale``; ParseNet, used by SSD because
    conv4_3's activations are much larger than the deeper maps')."""

    def __init__(self, channels: int, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B, C, H, W] -> Tensor[B, C, H, W], in ``x``'s dtype."""
        # Norm in fp32: the sum of 512 squares overflows/underflows in half.
        x32 = x.float()
        norm = x32.pow(2).sum(1, keepdim=True).sqrt() + self.eps
        return (self.weight[None, :, None, None] * x32 / norm).type_as(x)


@MODELS.register_module()
class SSDExtraLayers(BaseModule):
    """L2Norm on the first input and extra levels on the last.

    Args:
        in_channels: Channels of the backbone outputs, e.g. (512, 1024).
        out_channels: Channels of every output level; the first
            ``len(in_channels)`` equal ``in_channels``.
        level_strides, level_paddings: Of each extra level's 3x3 conv.
        last_kernel_size: Kernel of the last extra level's conv.
        l2_norm_scale: Initial L2Norm weight; ``None`` disables L2Norm.
        norm_cfg: Optional norm layer after every extra conv.

    Shapes: outputs ``[B, out_channels[i], H_i, W_i]`` for every level.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024),
                 out_channels: Sequence[int] = (512, 1024, 512, 256, 256, 256),
                 level_strides: Sequence[int] = (2, 2, 1, 1),
                 level_paddings: Sequence[int] = (1, 1, 0, 0),
                 last_kernel_size: int = 3,
                 l2_norm_scale: Optional[float] = 20.0,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='Xavier', layer='Conv2d', distribution='uniform'),
                        NORM_INIT_CFG]
        super().__init__(init_cfg=init_cfg)
        num_extra = len(out_channels) - len(in_channels)
        if tuple(out_channels[:len(in_channels)]) != tuple(in_channels):
            raise ValueError(f'out_channels {tuple(out_channels)} must start with '
                             f'in_channels {tuple(in_channels)}')
        if not len(level_strides) == len(level_paddings) == num_extra:
            raise ValueError(f'{num_extra} extra levels need as many level_strides '
                             f'and level_paddings, got {len(level_strides)} and '
                             f'{len(level_paddings)}')
        self.l2_norm = (None if l2_norm_scale is None
                        else L2Norm(in_channels[0], l2_norm_scale))
        self.extra_layers = nn.ModuleList()
        prev = in_channels[-1]
        for i, (ch, stride, pad) in enumerate(
                zip(out_channels[len(in_channels):], level_strides, level_paddings)):
            kernel = last_kernel_size if i == num_extra - 1 else 3
            self.extra_layers.append(nn.Sequential(
                *conv_norm_relu(prev, ch // 2, 1, norm_cfg=norm_cfg),
                *conv_norm_relu(ch // 2, ch, kernel, stride, pad, norm_cfg=norm_cfg)))
            prev = ch

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        outs = list(inputs)
        if self.l2_norm is not None:
            outs[0] = self.l2_norm(outs[0])
        x = outs[-1]
        for layer in self.extra_layers:
            x = layer(x)
            outs.append(x)
        return tuple(outs)
