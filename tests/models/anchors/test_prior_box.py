import math

import pytest
import torch

from ssd_ext.models.anchors.prior_box import PriorBoxGenerator, caffe_prior_sizes

SSD300_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
SSD300_STRIDES = [8, 16, 32, 64, 100, 300]
SSD300_FEATS = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
SSD512_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]]
SSD512_STRIDES = [8, 16, 32, 64, 128, 256, 512]
SSD512_FEATS = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]


def test_caffe_sizes_coco300():
    mins, maxs = caffe_prior_sizes(300, 6, 0.15, 0.9, 0.07)
    assert mins == [21, 45, 99, 153, 207, 261]
    assert maxs == [45, 99, 153, 207, 261, 315]


def test_caffe_sizes_voc300():
    mins, maxs = caffe_prior_sizes(300, 6, 0.2, 0.9, 0.1)
    assert mins == [30, 60, 111, 162, 213, 264]
    assert maxs == [60, 111, 162, 213, 264, 315]


def test_caffe_sizes_coco512_are_not_truncated():
    mins, maxs = caffe_prior_sizes(512, 7, 0.1, 0.9, 0.04)
    assert mins == pytest.approx([20.48, 51.2, 133.12, 215.04, 296.96, 378.88, 460.8])
    assert maxs == pytest.approx([51.2, 133.12, 215.04, 296.96, 378.88, 460.8, 542.72])


def coco300():
    return PriorBoxGenerator(ratios=SSD300_RATIOS, strides=SSD300_STRIDES, input_size=300,
                             scale_range=(0.15, 0.9), first_level_scale=0.07)


def test_counts_ssd300_and_ssd512():
    assert coco300().grid_priors(SSD300_FEATS).shape == (8732, 4)
    gen512 = PriorBoxGenerator(ratios=SSD512_RATIOS, strides=SSD512_STRIDES,
                               input_size=512, scale_range=(0.1, 0.9),
                               first_level_scale=0.04)
    assert gen512.grid_priors(SSD512_FEATS).shape == (24564, 4)


def test_first_cell_boxes_follow_caffe_order():
    priors = coco300().grid_priors(SSD300_FEATS)
    big = math.sqrt(21 * 45)
    r2 = math.sqrt(2)
    expected = torch.tensor([
        [4 - 10.5, 4 - 10.5, 4 + 10.5, 4 + 10.5],
        [4 - big / 2, 4 - big / 2, 4 + big / 2, 4 + big / 2],
        [4 - 21 * r2 / 2, 4 - 21 / r2 / 2, 4 + 21 * r2 / 2, 4 + 21 / r2 / 2],
        [4 - 21 / r2 / 2, 4 - 21 * r2 / 2, 4 + 21 / r2 / 2, 4 + 21 * r2 / 2],
    ])
    torch.testing.assert_close(priors[:4], expected)
    # Second cell of the first level moves right by one step (8 px).
    torch.testing.assert_close(priors[4:8], expected + torch.tensor([8., 0, 8, 0]))
    # Last level: one cell centred in the image, 300 = 261 + step 54 spread.
    last = priors[-4:]
    centres = (last[:, :2] + last[:, 2:]) / 2
    torch.testing.assert_close(centres, torch.full((4, 2), 150.0))


def test_any_input_size_and_non_square():
    gen = PriorBoxGenerator(ratios=[[2], [2, 3], [2]], strides=None, input_size=(480, 320),
                            min_sizes=[32, 96, 200], max_sizes=[96, 200, 320])
    priors = gen.grid_priors([(40, 60), (20, 30), (10, 15)])
    assert priors.shape[0] == 40 * 60 * 4 + 20 * 30 * 6 + 10 * 15 * 4
    # Derived steps are 8 px in both directions for level 0.
    first = priors[0]
    assert ((first[0] + first[2]) / 2).item() == pytest.approx(4.0)
    last = priors[-1]
    assert ((last[0] + last[2]) / 2).item() == pytest.approx(480 - 16)
    assert ((last[1] + last[3]) / 2).item() == pytest.approx(320 - 16)


def test_clip_keeps_priors_inside_the_image():
    gen = PriorBoxGenerator(ratios=SSD300_RATIOS, strides=SSD300_STRIDES, input_size=300,
                            scale_range=(0.15, 0.9), first_level_scale=0.07, clip=True)
    priors = gen.grid_priors(SSD300_FEATS)
    assert priors.min() >= 0 and priors.max() <= 300
    assert (coco300().grid_priors(SSD300_FEATS).min() < 0).item()


@pytest.mark.parametrize('bad, message', [
    (dict(min_sizes=[1, 2]), 'min_sizes has 2 levels'),
    (dict(strides=[8]), 'strides has 1 levels'),
    (dict(scale_range=None), 'needs either min_sizes'),
    (dict(offset=2), 'offset must be in'),
    (dict(ratios=[[-2]] + SSD300_RATIOS[1:]), 'ratios must be a positive number, got -2'),
    (dict(min_sizes=[0, 1, 2, 3, 4, 5], max_sizes=[1, 2, 3, 4, 5, 6]),
     'min_sizes must be a positive number, got 0'),
    (dict(min_sizes=[1, 2, 3, 4, 5, 6], max_sizes=[2, 3, 4, 5, 6, -7]),
     'max_sizes must be a positive number, got -7'),
])
def test_bad_arguments_name_the_key(bad, message):
    kwargs = dict(ratios=SSD300_RATIOS, strides=SSD300_STRIDES, input_size=300,
                  scale_range=(0.15, 0.9), first_level_scale=0.07)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=message):
        PriorBoxGenerator(**kwargs)


@pytest.mark.parametrize('input_size, ratio_range, first, strides, ratios, feats', [
    (300, (0.15, 0.9), 0.07, SSD300_STRIDES, SSD300_RATIOS, SSD300_FEATS),
    (300, (0.2, 0.9), 0.1, SSD300_STRIDES, SSD300_RATIOS, SSD300_FEATS),
    (512, (0.1, 0.9), 0.04, SSD512_STRIDES, SSD512_RATIOS, SSD512_FEATS),
    (512, (0.15, 0.9), 0.07, SSD512_STRIDES, SSD512_RATIOS, SSD512_FEATS),
])
def test_matches_mmdet_generator_given_its_integer_sizes(input_size, ratio_range, first,
                                                         strides, ratios, feats):
    """MMDetection truncates the Caffe sizes to integers (e.g. 51.2 -> 51 at 512);
    given those same sizes, our priors equal its anchors."""
    from mmdet.models.task_modules.prior_generators import SSDAnchorGenerator
    ref = SSDAnchorGenerator(strides=strides, ratios=ratios, input_size=input_size,
                             basesize_ratio_range=ratio_range, scale_major=False)
    mins, maxs = caffe_prior_sizes(input_size, len(ratios), *ratio_range, first)
    ours = PriorBoxGenerator(ratios=ratios, strides=strides, input_size=input_size,
                             min_sizes=[int(s) for s in mins],
                             max_sizes=[int(s) for s in maxs])
    expected = torch.cat(ref.grid_priors(feats, device='cpu'))
    torch.testing.assert_close(ours.grid_priors(feats), expected, rtol=0, atol=1e-4)
