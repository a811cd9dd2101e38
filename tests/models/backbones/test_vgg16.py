"""VGG16ReducedFC: the paper's layer shapes, and ReLU after pooling changes nothing."""
import pytest
import torch
from torch import nn

from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC


def _textbook_order(backbone: VGG16ReducedFC) -> nn.Sequential:
    """The same layers with every ReLU back in front of the pool that follows it."""
    layers = list(backbone.features)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


@pytest.mark.parametrize('norm_cfg', [None, dict(type='BN')])
def test_relu_after_pool_gives_the_same_outputs_and_gradients(norm_cfg):
    torch.manual_seed(0)
    backbone = VGG16ReducedFC(norm_cfg=norm_cfg)
    backbone.init_weights()
    backbone.eval()
    reference = _textbook_order(backbone)
    # 4 pools moved: pool1-3 and pool5; pool4 stays behind conv4_3's ReLU.
    moved = sum(isinstance(a, nn.MaxPool2d) and isinstance(b, nn.ReLU)
                for a, b in zip(backbone.features, list(backbone.features)[1:]))
    assert moved == 4
    x = torch.randn(2, 3, 67, 75)
    conv4_3, fc7 = backbone(x)
    grads = torch.autograd.grad(conv4_3.sum() + fc7.square().sum(), backbone.parameters())

    y = x
    for i, layer in enumerate(reference):
        y = layer(y)
        if i == backbone.conv4_3_index:
            ref_conv4_3 = y
    ref_grads = torch.autograd.grad(ref_conv4_3.sum() + y.square().sum(),
                                    backbone.parameters())
    assert conv4_3.shape == (2, 512, 9, 10) and fc7.shape == (2, 1024, 5, 5)
    torch.testing.assert_close(conv4_3, ref_conv4_3, rtol=0, atol=0)
    torch.testing.assert_close(fc7, y, rtol=0, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-6, atol=1e-6)


def test_frozen_stages_cover_whole_stages():
    backbone = VGG16ReducedFC(frozen_stages=3).train()
    frozen = [n for n, p in backbone.named_parameters() if not p.requires_grad]
    # conv1_1 ... conv3_3: 7 convs, weight and bias each
    assert len(frozen) == 14
    assert all(p.requires_grad for n, p in backbone.named_parameters() if n not in frozen)


def test_widen_factor_scales_every_layer_and_keeps_the_map_sizes():
    full, quarter = VGG16ReducedFC(), VGG16ReducedFC(widen_factor=0.25)
    full_convs = [m for m in full.features if isinstance(m, nn.Conv2d)]
    quarter_convs = [m for m in quarter.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels // 4 for c in full_convs] == [c.out_channels for c in quarter_convs]
    params = sum(p.numel() for p in quarter.parameters())
    assert params < sum(p.numel() for p in full.parameters()) / 12
    conv4_3, fc7 = quarter(torch.randn(1, 3, 160, 160))
    assert conv4_3.shape == (1, 128, 20, 20) and fc7.shape == (1, 256, 10, 10)
    with pytest.raises(ValueError, match='widen_factor must be positive'):
        VGG16ReducedFC(widen_factor=0)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match='bogus'):
        VGG16ReducedFC(bogus=1)
    with pytest.raises(ValueError, match='frozen_stages must be in'):
        VGG16ReducedFC(frozen_stages=9)
