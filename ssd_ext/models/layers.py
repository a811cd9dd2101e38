"""Small building blocks shared by the backbone and the neck."""
from typing import List, Optional

from mmcv.cnn import build_norm_layer
from torch import nn


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
