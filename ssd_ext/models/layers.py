"""Small building blocks shared by the backbone and the neck."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor, nn


# Norm layers start as the identity, whatever initialisation the convs get.
NORM_INIT_CFG = dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1, bias=0)


def conv_norm_relu(in_ch: int, out_ch: int, kernel: int, stride: int = 1,
                   padding: int = 0, dilation: int = 1,
                   norm_cfg: Optional[dict] = None) -> List[nn.Module]:
    """``[conv, (norm), ReLU]``; the conv has no bias when a norm follows it.

    Kept as a flat list (not a module) so that, without norm layers, parameter
    names line up one to one with MMDetection's SSD checkpoints.
    """
    block: List[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride, padding,
                                        dilation, bias=norm_cfg is None)]
    if norm_cfg is not None:
        block.append(build_norm_layer(norm_cfg, out_ch)[1])
    block.append(nn.ReLU(inplace=True))
    return block


class CeilMaxPool2x2(nn.MaxPool2d):
    """2x2 stride-2 max pooling in Caffe's ceil mode (odd sizes round up).

    For inference on NCHW tensors it takes the max of the four strided sub-grids:
    torch 2.13's CPU kernel always writes int64 argmax indices as well
    (docs/upstream.md), which slows it at VGG's large early maps
    (docs/benchmarks.md). Same values either way; with autograd, on GPUs and on
    channels_last tensors (where ATen's kernel is the faster one) it is
    ``nn.MaxPool2d``.
    """

    def __init__(self) -> None:
        super().__init__(2, 2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        if (torch.is_grad_enabled() or not x.is_cpu or x.dim() != 4
                or x.is_contiguous(memory_format=torch.channels_last)):
            return super().forward(x)
        h, w = x.shape[-2:]
        if h % 2 or w % 2:
            x = F.pad(x, (0, w % 2, 0, h % 2), value=float('-inf'))
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))
