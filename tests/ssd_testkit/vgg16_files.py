"""VGG16 weight files with the real key layouts and shapes, random values.

Nothing can be downloaded, so each published layout is rebuilt here by key and
shape: torchvision's two VGG16 files (``features.N`` + ``classifier.{0,3,6}``,
finite or NaN classifier), MMCV's ``vgg16_caffe`` (``features.N`` with the
reduced fc6/fc7 at 31 and 33) and ssd.pytorch's Caffe ``vgg16_reducedfc``
(``N.weight``). Conv weights are He-scaled so activations stay finite and
non-trivial through conv5_3.
"""
from pathlib import Path
from typing import Dict

import torch
from torch import Tensor, nn

from ssd_ext.models.pretrained.checksum import sha256_of

# torchvision vgg16().features: (index, in_channels, out_channels) of the 13
# convs, each followed by its ReLU, and the indices of the 2x2 max pools.
VGG16_CONVS = ((0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128),
               (10, 128, 256), (12, 256, 256), (14, 256, 256),
               (17, 256, 512), (19, 512, 512), (21, 512, 512),
               (24, 512, 512), (26, 512, 512), (28, 512, 512))
VGG16_POOLS = (4, 9, 16, 23)
CONV_INDICES = tuple(i for i, _, _ in VGG16_CONVS)


def _he(g: torch.Generator, *shape: int) -> Tensor:
    fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
    return torch.randn(*shape, generator=g) * (2 / fan_in) ** 0.5


def vgg16_convs(g: torch.Generator) -> Dict[str, Tensor]:
    sd = {}
    for i, cin, cout in VGG16_CONVS:
        sd[f'features.{i}.weight'] = _he(g, cout, cin, 3, 3)
        sd[f'features.{i}.bias'] = torch.randn(cout, generator=g) * 0.1
    return sd


def torchvision_v1(seed: int = 0) -> Dict[str, Tensor]:
    """``vgg16-397923af.pth`` (IMAGENET1K_V1): finite classifier."""
    g = torch.Generator().manual_seed(seed)
    sd = vgg16_convs(g)
    for i, (cout, cin) in zip((0, 3, 6), ((4096, 512 * 7 * 7), (4096, 4096), (1000, 4096))):
        sd[f'classifier.{i}.weight'] = _he(g, cout, cin)
        sd[f'classifier.{i}.bias'] = torch.randn(cout, generator=g) * 0.1
    return sd


def torchvision_features(seed: int = 0) -> Dict[str, Tensor]:
    """``vgg16_features-amdegroot-88682ab5.pth`` (IMAGENET1K_FEATURES): the
    classifier is NaN by design."""
    sd = torchvision_v1(seed)
    for key in [k for k in sd if k.startswith('classifier.')]:
        sd[key] = torch.full_like(sd[key], float('nan'))
    return sd


def mmcv_vgg16_caffe(seed: int = 0) -> Dict[str, Tensor]:
    """``vgg16_caffe-292e1171.pth``: MMDetection's SSDVGG layout, fc6 (dilated
    3x3) at ``features.31`` and fc7 (1x1) at ``features.33``."""
    g = torch.Generator().manual_seed(seed)
    sd = vgg16_convs(g)
    sd['features.31.weight'] = _he(g, 1024, 512, 3, 3)
    sd['features.31.bias'] = torch.randn(1024, generator=g) * 0.1
    sd['features.33.weight'] = _he(g, 1024, 1024, 1, 1)
    sd['features.33.bias'] = torch.randn(1024, generator=g) * 0.1
    return sd


def caffe_reducedfc(seed: int = 0) -> Dict[str, Tensor]:
    """ssd.pytorch's ``vgg16_reducedfc.pth``: the same tensors keyed ``N.weight``."""
    return {k[len('features.'):]: v for k, v in mmcv_vgg16_caffe(seed).items()}


def save_hub_named(obj, folder: Path, stem: str) -> Path:
    """Saves ``obj`` as ``folder/STEM-<first 8 hex of its sha256>.pth``, the
    torch.hub naming the loader checks."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f'{stem}.tmp'
    torch.save(obj, tmp)
    path = folder / f'{stem}-{sha256_of(tmp)[:8]}.pth'
    tmp.rename(path)
    return path


def plain_vgg16_features() -> nn.Sequential:
    """torchvision's ``vgg16().features`` rebuilt in plain torch (torchvision is
    no dependency): the same layers at the same indices, floor-mode pools."""
    convs = {i: (cin, cout) for i, cin, cout in VGG16_CONVS}
    layers = []
    for i in range(31):
        if i in convs:
            layers.append(nn.Conv2d(*convs[i], 3, padding=1))
        elif i in (*VGG16_POOLS, 30):
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)
