"""ImageNet VGG16 files -> the backbone
(``ssd_ext/models/weight_conversion/imagenet_vgg16.py``).

The source files are rebuilt by layout with random values
(``tests/ssd_testkit/vgg16_files.py``). Layout conversions only copy and
subsample, so they are compared exactly; the folded input conventions are
compared with a plain-torch torchvision VGG16 fed the file's own normalised
input, conv1_1 to conv5_3.
"""
import re
from typing import Dict, List

import pytest
import torch
from torch import Tensor, nn

from ssd_ext.models.backbones.vgg16 import VGG16ReducedFC
from ssd_ext.models.weight_conversion.imagenet_vgg16 import (
    CAFFE_MEAN_INPUT, CAFFE_REDUCEDFC, MMCV_CAFFE, SSD_EXT_INPUT, TORCHVISION_FEATURES,
    TORCHVISION_V1, TORCHVISION_V1_INPUT, InputConvention, convert_vgg16, identify_vgg16,
    vgg16_to_backbone)
from ssd_testkit.vgg16_files import (CONV_INDICES, caffe_reducedfc, mmcv_vgg16_caffe,
                                     plain_vgg16_features, torchvision_features,
                                     torchvision_v1)

# Divisible by 16, so the backbone's ceil-mode pools and torchvision's floor-mode
# ones give the same maps up to conv5_3.
IMAGE_SIZE = (64, 80)
# The fold is computed in float64 and stored in float32, like the file.
FOLD_TOL = 1e-5


@pytest.fixture(scope='module')
def tv_v1() -> Dict[str, Tensor]:
    return torchvision_v1()


@pytest.fixture(scope='module')
def image() -> Tensor:
    """An RGB image [1, 3, H, W] in 0-255."""
    return torch.rand(1, 3, *IMAGE_SIZE, generator=torch.Generator().manual_seed(5)) * 255


def normalise(rgb: Tensor, convention: InputConvention) -> Tensor:
    mean = torch.tensor(convention.mean, dtype=rgb.dtype).view(1, 3, 1, 1)
    std = torch.tensor(convention.std, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb - mean) / std


def conv_outputs(features: nn.Sequential, x: Tensor) -> List[Tensor]:
    """The 13 conv outputs (conv1_1 ... conv5_3) of ``features`` on ``x``."""
    outs = []
    hooks = [features[i].register_forward_hook(lambda m, i, o: outs.append(o.clone()))
             for i in CONV_INDICES]
    with torch.no_grad():
        for layer in features[:CONV_INDICES[-1] + 1]:
            x = layer(x)
    for hook in hooks:
        hook.remove()
    return outs


def reference_features(sd: Dict[str, Tensor], x: Tensor) -> List[Tensor]:
    vgg = plain_vgg16_features().double()
    convs = tuple(f'features.{i}.' for i in CONV_INDICES)
    vgg.load_state_dict({k[len('features.'):]: v for k, v in sd.items()
                         if k.startswith(convs)}, strict=True)
    return conv_outputs(vgg, x.double())


def backbone_features(state: Dict[str, Tensor], x: Tensor) -> List[Tensor]:
    backbone = VGG16ReducedFC().double()
    backbone.load_state_dict(state, strict=True)
    return conv_outputs(backbone.features, x.double())


# ----------------------------------------------------------------------- layouts

@pytest.mark.parametrize('build, kind', [
    (torchvision_v1, TORCHVISION_V1), (torchvision_features, TORCHVISION_FEATURES),
    (mmcv_vgg16_caffe, MMCV_CAFFE), (caffe_reducedfc, CAFFE_REDUCEDFC)])
def test_files_are_told_apart_by_content(build, kind):
    assert identify_vgg16(build()) == kind


def test_torchvision_layout_exact_values(tv_v1):
    converted = vgg16_to_backbone(tv_v1)
    assert set(converted) == set(VGG16ReducedFC().state_dict())
    for i in CONV_INDICES:
        for kind in ('weight', 'bias'):
            key = f'features.{i}.{kind}'
            assert torch.equal(converted[key], tv_v1[key]), key
    # fc6: every 4th output, every 3rd tap; fc7: every 4th input and output
    fc6 = tv_v1['classifier.0.weight'].view(4096, 512, 7, 7)[::4, :, ::3, ::3]
    assert torch.equal(converted['features.31.weight'], fc6)
    assert torch.equal(converted['features.31.bias'], tv_v1['classifier.0.bias'][::4])
    fc7 = tv_v1['classifier.3.weight'][::4, ::4].reshape(1024, 1024, 1, 1)
    assert torch.equal(converted['features.33.weight'], fc7)
    # by hand, independent of slicing: fc6 output 4k at tap (3i, 3j)
    flat = tv_v1['classifier.0.weight']
    assert converted['features.31.weight'][5, 7, 2, 1] == flat[20, 7 * 49 + 6 * 7 + 3]
    assert converted['features.33.weight'][3, 9, 0, 0] == tv_v1['classifier.3.weight'][12, 36]


@pytest.mark.parametrize('build', [mmcv_vgg16_caffe, caffe_reducedfc])
def test_reduced_fc_layouts_load_as_they_are(build):
    sd = build()
    converted = vgg16_to_backbone(sd)
    source = mmcv_vgg16_caffe()
    assert set(converted) == set(source)
    for key, value in source.items():
        assert torch.equal(converted[key], value), key


def test_not_a_vgg16_raises_naming_the_layouts():
    with pytest.raises(KeyError, match='not a VGG16 state dict') as info:
        vgg16_to_backbone({'conv1.weight': torch.zeros(1), 'conv1.bias': torch.zeros(1)})
    message = str(info.value)
    assert "'31.weight'" in message and "'features.0.weight'" in message
    assert 'conv1.weight' in message  # shows what it got


def test_wrong_fc6_shape_raises():
    sd = torchvision_v1()
    sd['classifier.0.weight'] = torch.zeros(4096, 512 * 3 * 3)
    with pytest.raises(ValueError, match=re.escape('classifier.0.weight')):
        vgg16_to_backbone(sd)


@pytest.mark.parametrize('build, key', [(torchvision_v1, 'features.19.bias'),
                                        (mmcv_vgg16_caffe, 'features.33.weight')])
def test_missing_tensor_raises_naming_it(build, key):
    sd = build()
    del sd[key]
    with pytest.raises(KeyError, match=re.escape(key)):
        vgg16_to_backbone(sd)


# ------------------------------------------------------------ input conventions

def test_v1_converted_features_equal_torchvision_on_its_own_input(image):
    """V1 expects (x/255 - mean)/std; ours x - 255 mean. The means agree, so
    the folded conv1_1 makes conv1_1 ... conv5_3 equal everywhere, border too
    (in float64, with the folded weights stored in float32 as the file keeps
    them: tolerance 1e-5 of each map's largest value)."""
    sd = torchvision_v1()
    state, notes = convert_vgg16(sd)
    assert any('folded' in n for n in notes)
    expected = reference_features(sd, normalise(image, TORCHVISION_V1_INPUT))
    got = backbone_features(state, normalise(image, SSD_EXT_INPUT))
    for n, (e, g) in enumerate(zip(expected, got)):
        assert e.abs().max() > 0, n
        torch.testing.assert_close(g, e, rtol=0, atol=FOLD_TOL * float(e.abs().max()))
    # Without the fold (what the old converter did), conv1_1 is ~58x off.
    unfolded = backbone_features(vgg16_to_backbone(sd), normalise(image, SSD_EXT_INPUT))
    ratio = unfolded[0].abs().mean() / expected[0].abs().mean()
    assert ratio > 10


@pytest.mark.parametrize('build', [torchvision_features, caffe_reducedfc])
def test_caffe_mean_files_features_match_on_their_own_input(build, image):
    """FEATURES and ssd.pytorch's reducedfc expect RGB minus (123, 117, 104).
    Away from the zero padding the fold is exact (conv1_1's interior to 1e-5);
    on the border zero stands for colours under one grey level apart, which
    keeps every deeper map within 1% of its largest value."""
    sd = build()
    state, notes = convert_vgg16(sd)
    reference_sd = mmcv_vgg16_caffe() if build is caffe_reducedfc else sd
    expected = reference_features(reference_sd, normalise(image, CAFFE_MEAN_INPUT))
    got = backbone_features(state, normalise(image, SSD_EXT_INPUT))
    scale = float(expected[0].abs().max())
    torch.testing.assert_close(got[0][..., 1:-1, 1:-1], expected[0][..., 1:-1, 1:-1],
                               rtol=0, atol=FOLD_TOL * scale)
    assert not torch.allclose(got[0][..., 0, :], expected[0][..., 0, :], rtol=0,
                              atol=FOLD_TOL * scale)  # the border effect exists
    for n, (e, g) in enumerate(zip(expected, got)):
        assert float((g - e).abs().max()) < 0.01 * float(e.abs().max()), n
    assert any('folded' in n for n in notes)


def test_features_file_gets_torchvision_ssd_fc_init_and_says_so():
    state, notes = convert_vgg16(torchvision_features(), seed=3)
    again, _ = convert_vgg16(torchvision_features(), seed=3)
    other, _ = convert_vgg16(torchvision_features(), seed=4)
    fc6 = state['features.31.weight']
    assert torch.isfinite(fc6).all() and torch.isfinite(state['features.33.weight']).all()
    assert not state['features.31.bias'].any() and not state['features.33.bias'].any()
    bound = (6 / (512 * 9 + 1024 * 9)) ** 0.5  # Xavier-uniform for a 3x3 conv 512 -> 1024
    assert 0.9 * bound < float(fc6.abs().max()) <= bound * (1 + 1e-6)  # float32 bound
    assert torch.equal(fc6, again['features.31.weight'])  # seeded
    assert not torch.equal(fc6, other['features.31.weight'])
    assert any('NaN' in n and 'Xavier' in n for n in notes)


def test_v1_fc_comes_from_the_classifier():
    sd = torchvision_v1()
    state, notes = convert_vgg16(sd)
    assert torch.equal(state['features.33.bias'], sd['classifier.3.bias'][::4])
    assert any('subsampled' in n for n in notes)


def test_mmcv_caffe_is_kept_as_it_is():
    sd = mmcv_vgg16_caffe()
    state, notes = convert_vgg16(sd)
    for key, value in sd.items():
        assert torch.equal(state[key], value), key
    assert any('kept as it is' in n for n in notes)


def test_partly_nan_classifier_is_damaged():
    sd = torchvision_v1()
    sd['classifier.3.weight'][0, 0] = float('nan')
    with pytest.raises(ValueError, match=re.escape("['classifier.3.weight']")):
        convert_vgg16(sd)


@pytest.mark.parametrize('build', [torchvision_features, mmcv_vgg16_caffe])
def test_non_finite_kept_tensor_is_refused_naming_it(build):
    sd = build()
    sd['features.12.weight'][0, 0, 0, 0] = float('inf')
    with pytest.raises(ValueError, match=re.escape('features.12.weight has 1 non-finite')):
        convert_vgg16(sd)
