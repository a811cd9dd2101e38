"""``ssd_ext/models/necks/ssd_neck.py``: level shapes come from the strides,
paddings and last kernel given (the module docstring's SSD300 and SSD512
settings), and L2Norm rescales conv4_3 only."""
import pytest
import torch

from ssd_ext.models.necks.ssd_neck import L2Norm, SSDExtraLayers

# Channels divided by 32 to keep the test small; shapes do not depend on them.
SSD300 = dict(out_channels=(16, 32, 16, 8, 8, 8), level_strides=(2, 2, 1, 1),
              level_paddings=(1, 1, 0, 0))
SSD512 = dict(out_channels=(16, 32, 16, 8, 8, 8, 8), level_strides=(2, 2, 2, 2, 1),
              level_paddings=(1, 1, 1, 1, 1), last_kernel_size=4)


@pytest.mark.parametrize('settings, conv4_3, sizes', [
    (SSD300, 38, [38, 19, 10, 5, 3, 1]),
    (SSD512, 64, [64, 32, 16, 8, 4, 2, 1]),
])
def test_level_sizes_of_ssd300_and_ssd512(settings, conv4_3, sizes):
    neck = SSDExtraLayers(in_channels=(16, 32), **settings)
    outs = neck((torch.randn(2, 16, conv4_3, conv4_3), torch.randn(2, 32, sizes[1], sizes[1])))
    assert [o.shape for o in outs] == [(2, c, s, s)
                                       for c, s in zip(settings['out_channels'], sizes)]


def test_l2norm_scales_unit_channel_vectors_and_only_the_first_input():
    norm = L2Norm(3, scale=20.0)
    x = torch.tensor([3.0, 0.0, 4.0]).reshape(1, 3, 1, 1)
    torch.testing.assert_close(norm(x).flatten(), torch.tensor([12.0, 0.0, 16.0]))
    neck = SSDExtraLayers(in_channels=(16, 32), **SSD300)
    fc7 = torch.randn(1, 32, 19, 19)
    conv4_3_out, fc7_out = neck((torch.randn(1, 16, 38, 38), fc7))[:2]
    assert fc7_out is fc7
    torch.testing.assert_close(conv4_3_out.norm(dim=1), torch.full((1, 38, 38), 20.0))
    assert SSDExtraLayers(in_channels=(16, 32), l2_norm_scale=None, **SSD300).l2_norm is None


def test_bad_level_arguments_are_named():
    with pytest.raises(ValueError, match='need as many level_strides and level_paddings'):
        SSDExtraLayers(level_strides=(2, 2, 1))
    with pytest.raises(ValueError, match='must start with in_channels'):
        SSDExtraLayers(in_channels=(256, 1024))
