"""VGG16 with SSD's reduced fully connected layers.

conv1_1 ... conv5_3 as in VGG16 (all 2x2 pools in Caffe's ceil mode, which makes
conv4_3 38x38 at a 300 input), then pool5 as 3x3 stride 1 pad 1, fc6 as a 3x3 conv
of 1024 channels with dilation 6 and fc7 as a 1x1 conv of 1024 channels. Outputs
conv4_3 (after ReLU) and fc7 (after ReLU).

Max pooling and ReLU commute (ReLU is monotone), so pools 1, 2, 3 and 5 run before
the ReLU of the conv they follow: the ReLU then touches a quarter of the elements,
forward and backward, for the same values and gradients. conv4_3's ReLU output is
itself an output, so pool4 keeps the textbook order.
"""
from typing import List, Optional, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn

from ssd_ext.models.layers import NORM_INIT_CFG, CeilMaxPool2x2, conv_norm_relu
from ssd_ext.registry import MODELS

# (stage name, number of convs, channels); a 2x2 pool follows stages 1-4.
VGG16_STAGES = (('conv1', 2, 64), ('conv2', 2, 128), ('conv3', 3, 256),
                ('conv4', 3, 512), ('conv5', 3, 512))


@MODELS.register_module()
class VGG16ReducedFC(BaseModule):
    """SSD's VGG16 backbone.

    Args:
        norm_cfg: Norm layer after every conv (e.g. ``dict(type='BN')``) so the
            network trains from scratch; ``None`` (default) is the paper's VGG.
        frozen_stages: Stages (1-5) whose parameters are frozen, from the input.
        widen_factor: Multiplies every layer's channels (rounded, at least 8):
            0.25 costs about 1/16 of the paper's compute, for small CPU jobs
            such as the quickstart; 1 (default) is the paper's VGG16.
        init_cfg: The paper configs give ImageNet VGG16,
            ``dict(type='StrictPretrained', checkpoint='open-mmlab://vgg16_caffe')``
            (``ssd_ext/models/pretrained/``); ``None`` is Kaiming init, for
            training from scratch (with ``norm_cfg``).

    Shapes: input [B, 3, H, W]; outputs conv4_3 [B, 512 w, ceil(H/8), ...] and fc7
    [B, 1024 w, ceil(H/16), ...] for ``widen_factor`` w.
    """

    def __init__(self, norm_cfg: Optional[dict] = None, frozen_stages: int = 0,
                 widen_factor: float = 1.0, init_cfg: Optional[dict] = None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d', nonlinearity='relu'),
                        NORM_INIT_CFG]
        super().__init__(init_cfg=init_cfg)
        if not 0 <= frozen_stages <= len(VGG16_STAGES):
            raise ValueError(f'frozen_stages must be in [0, 5], got {frozen_stages!r}')
        if not widen_factor > 0:
            raise ValueError(f'widen_factor must be positive, got {widen_factor!r}')
        self.frozen_stages = frozen_stages

        def width(channels: int) -> int:
            return max(8, round(channels * widen_factor))

        layers: List[nn.Module] = []
        self.stage_ends: List[int] = []
        in_ch = 3
        for stage, (name, num_convs, ch) in enumerate(VGG16_STAGES):
            ch = width(ch)
            for _ in range(num_convs):
                layers += conv_norm_relu(in_ch, ch, 3, padding=1, norm_cfg=norm_cfg)
                in_ch = ch
            if name == 'conv4':
                self.conv4_3_index = len(layers) - 1
                layers.append(CeilMaxPool2x2())
            else:
                pool = CeilMaxPool2x2() if stage < 4 else nn.MaxPool2d(3, 1, 1)  # pool5
                layers.insert(len(layers) - 1, pool)
            self.stage_ends.append(len(layers))
        fc = width(1024)
        layers += conv_norm_relu(in_ch, fc, 3, padding=6, dilation=6,
                                 norm_cfg=norm_cfg)  # fc6
        layers += conv_norm_relu(fc, fc, 1, norm_cfg=norm_cfg)  # fc7
        self.features = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == self.conv4_3_index:
                conv4_3 = x
        return conv4_3, x

    def train(self, mode: bool = True) -> 'VGG16ReducedFC':
        super().train(mode)
        if self.frozen_stages:
            frozen = self.features[:self.stage_ends[self.frozen_stages - 1]]
            frozen.eval()
            for p in frozen.parameters():
                p.requires_grad = False
        return self
