"""ImageNet VGG16 files -> ``VGG16ReducedFC`` weights for ssd_ext's preprocessor.

Rule: four files are told apart by their content, not their names (torchvision's
IMAGENET1K_V1 and IMAGENET1K_FEATURES, MMCV's ``vgg16_caffe``, ssd.pytorch's Caffe
``vgg16_reducedfc``). Each expects the input its publisher's code feeds it; that
convention is folded into conv1_1, which is linear, so the converted file takes
ssd_ext's input (RGB 0-255 minus (123.675, 116.28, 103.53), std 1): exactly inside
the image, closely on the zero-padded border. fc6/fc7 are subsampled from the
classifier as the paper says (Sec. 3); a NaN classifier (the FEATURES file) leaves
them to torchvision's SSD init. Layouts, conventions and the arithmetic:
docs/model_exactness.md#imagenet-vgg16-files.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

# torchvision vgg16().features indices of the 13 convs; ours are the same, and
# fc6/fc7 follow pool5 as in MMDetection's SSDVGG and ssd.pytorch.
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
FC6_INDEX, FC7_INDEX = 31, 33
CONV1_1 = 'features.0'


@dataclass(frozen=True)
class InputConvention:
    """``(x - mean) / std`` on RGB values ``x`` in 0-255."""
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]


def _scaled(values: Sequence[float], factor: float) -> Tuple[float, float, float]:
    return tuple(v * factor for v in values)


SSD_EXT_INPUT = InputConvention((123.675, 116.28, 103.53), (1.0, 1.0, 1.0))
TORCHVISION_V1_INPUT = InputConvention(_scaled((0.485, 0.456, 0.406), 255),
                                       _scaled((0.229, 0.224, 0.225), 255))
# torchvision's (0.48235, 0.45882, 0.40784) x 255: Caffe's (123, 117, 104) in RGB.
CAFFE_MEAN_INPUT = InputConvention((123.0, 117.0, 104.0), (1.0, 1.0, 1.0))

TORCHVISION_V1 = 'torchvision VGG16 IMAGENET1K_V1 (finite classifier)'
TORCHVISION_FEATURES = 'torchvision VGG16 IMAGENET1K_FEATURES (NaN classifier)'
MMCV_CAFFE = "MMCV vgg16_caffe (features.N, fc6/fc7 reduced)"
CAFFE_REDUCEDFC = 'Caffe vgg16_reducedfc (N.weight, fc6/fc7 reduced)'
FILE_INPUT = {TORCHVISION_V1: TORCHVISION_V1_INPUT,
              TORCHVISION_FEATURES: CAFFE_MEAN_INPUT,
              CAFFE_REDUCEDFC: CAFFE_MEAN_INPUT}


def identify_vgg16(state_dict: Dict[str, Tensor]) -> str:
    """Which of the four VGG16 files ``state_dict`` is (docs/model_exactness.md).

    Raises ``KeyError`` for none of them and ``ValueError`` for a classifier that
    is partly finite, naming the tensor.
    """
    if 'classifier.0.weight' in state_dict:
        classifier = {k: v for k, v in state_dict.items() if k.startswith('classifier.')}
        finite = {k: bool(torch.isfinite(v).all()) for k, v in classifier.items()}
        if all(finite.values()):
            return TORCHVISION_V1
        if not any(bool(torch.isfinite(v).any()) for v in classifier.values()):
            return TORCHVISION_FEATURES
        bad = sorted(k for k, ok in finite.items() if not ok)
        raise ValueError(f'classifier tensors {bad} are partly non-finite: neither '
                         f"torchvision's IMAGENET1K_V1 (all finite) nor IMAGENET1K_FEATURES "
                         f'(all NaN); the file is damaged')
    if f'features.{FC6_INDEX}.weight' in state_dict:
        return MMCV_CAFFE
    if f'{FC6_INDEX}.weight' in state_dict:
        return CAFFE_REDUCEDFC
    raise KeyError('not a VGG16 state dict: expected torchvision keys '
                   "('features.0.weight', 'classifier.0.weight', ...), MMCV vgg16_caffe "
                   f"keys ('features.{FC6_INDEX}.weight', ...) or Caffe vgg16_reducedfc "
                   f"keys ('0.weight', ..., '{FC6_INDEX}.weight'); "
                   f'got {sorted(state_dict)[:5]}...')


def vgg16_to_backbone(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Any of the four layouts -> ``VGG16ReducedFC`` keys (``features.*``), values
    copied or subsampled; no input convention is folded (:func:`convert_vgg16`)."""
    kind = identify_vgg16(state_dict)
    if kind in (TORCHVISION_V1, TORCHVISION_FEATURES):
        return _torchvision_vgg16(state_dict)
    sd = state_dict if kind == MMCV_CAFFE else {f'features.{k}': v
                                                 for k, v in state_dict.items()}
    needed = [f'features.{i}.{kind}' for i in (*VGG16_CONV_INDICES, FC6_INDEX, FC7_INDEX)
              for kind in ('weight', 'bias')]
    missing = [k for k in needed if k not in sd]
    if missing:
        raise KeyError(f'{kind} state dict lacks {missing}')
    return dict(sd)


def _torchvision_vgg16(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    out = {}
    for i in VGG16_CONV_INDICES:
        for kind in ('weight', 'bias'):
            key = f'features.{i}.{kind}'
            if key not in sd:
                raise KeyError(f'VGG16 state dict lacks {key!r}')
            out[key] = sd[key]
    fc6 = sd['classifier.0.weight']
    if fc6.shape != (4096, 512 * 7 * 7):
        raise ValueError(f'classifier.0.weight has shape {tuple(fc6.shape)}, '
                         f'expected (4096, 25088) for VGG16')
    if sd['classifier.3.weight'].shape != (4096, 4096):
        raise ValueError(f"classifier.3.weight has shape "
                         f"{tuple(sd['classifier.3.weight'].shape)}, expected (4096, 4096)")
    fc6 = fc6.view(4096, 512, 7, 7)[::4, :, ::3, ::3]
    out[f'features.{FC6_INDEX}.weight'] = fc6.contiguous()
    out[f'features.{FC6_INDEX}.bias'] = sd['classifier.0.bias'][::4].clone()
    fc7 = sd['classifier.3.weight'][::4, ::4]
    out[f'features.{FC7_INDEX}.weight'] = fc7.reshape(1024, 1024, 1, 1).contiguous()
    out[f'features.{FC7_INDEX}.bias'] = sd['classifier.3.bias'][::4].clone()
    return out


def fold_input_convention(weight: Tensor, bias: Tensor, source: InputConvention,
                          target: InputConvention) -> Tuple[Tensor, Tensor]:
    """conv1_1 ``weight`` [O, 3, k, k], ``bias`` [O] made for ``source`` input ->
    the same outputs on ``target`` input (exact away from the zero padding).

    For the file's ``z = (x - m) / s`` and ours ``y = (x - m') / s'``,
    ``z = (y s' + m' - m) / s``: each input channel's weights scale by ``s'/s``
    and the bias gains ``sum W (m' - m) / s``.
    """
    w64 = weight.double()
    s_src = torch.tensor(source.std, dtype=torch.float64).view(1, 3, 1, 1)
    s_tgt = torch.tensor(target.std, dtype=torch.float64).view(1, 3, 1, 1)
    shift = (torch.tensor(target.mean, dtype=torch.float64)
             - torch.tensor(source.mean, dtype=torch.float64)).view(1, 3, 1, 1)
    new_weight = w64 * s_tgt / s_src
    new_bias = bias.double() + (w64 * shift / s_src).sum(dim=(1, 2, 3))
    return new_weight.to(weight.dtype), new_bias.to(bias.dtype)


def torchvision_ssd_fc_init(state: Dict[str, Tensor], seed: int) -> None:
    """fc6/fc7 of ``state`` as torchvision's SSD starts them (in place)."""
    g = torch.Generator().manual_seed(seed)
    for i in (FC6_INDEX, FC7_INDEX):
        weight = state[f'features.{i}.weight']
        state[f'features.{i}.weight'] = nn.init.xavier_uniform_(torch.empty_like(weight),
                                                                generator=g)
        state[f'features.{i}.bias'] = torch.zeros_like(state[f'features.{i}.bias'])


def convert_vgg16(state_dict: Dict[str, Tensor], target: InputConvention = SSD_EXT_INPUT,
                  seed: int = 0) -> Tuple[Dict[str, Tensor], List[str]]:
    """A VGG16 file -> (backbone state dict for ``target`` input, what was done).

    Every tensor that is kept must be finite; a NaN or inf is a ``ValueError``
    naming it (the FEATURES file's classifier is not kept).
    """
    kind = identify_vgg16(state_dict)
    state = vgg16_to_backbone(state_dict)
    notes = [f'identified: {kind}']
    if kind == TORCHVISION_FEATURES:
        torchvision_ssd_fc_init(state, seed)
        notes.append(f'fc6/fc7 (features.{FC6_INDEX}, features.{FC7_INDEX}): the classifier '
                     f"is NaN, so initialised as torchvision's SSD does (Xavier-uniform "
                     f'weights, zero biases; seed {seed})')
    elif kind == TORCHVISION_V1:
        notes.append(f'fc6/fc7 (features.{FC6_INDEX}, features.{FC7_INDEX}): subsampled from '
                     f'classifier.0/classifier.3 (paper, Sec. 3)')
    else:
        notes.append('fc6/fc7: already reduced in the file')
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f'{key} has {int((~torch.isfinite(value)).sum())} non-finite '
                             f'values (NaN or inf): refusing to convert a damaged file')
    source = FILE_INPUT.get(kind)
    if source is None:
        notes.append('conv1_1: kept as it is (the file expects the input ssd_ext gives)')
    else:
        w, b = fold_input_convention(state[f'{CONV1_1}.weight'], state[f'{CONV1_1}.bias'],
                                     source, target)
        state[f'{CONV1_1}.weight'], state[f'{CONV1_1}.bias'] = w, b
        scale = tuple(round(t / s, 6) for t, s in zip(target.std, source.std))
        shift = tuple(round(t - s, 4) for t, s in zip(target.mean, source.mean))
        notes.append(f'conv1_1: folded the input convention in (file: mean {_fmt(source.mean)}, '
                     f'std {_fmt(source.std)}; ssd_ext: mean {_fmt(target.mean)}, std '
                     f'{_fmt(target.std)}): weights x {scale} per input channel, bias + W . '
                     f'{shift} / std')
    return state, notes


def _fmt(values: Sequence[float]) -> str:
    return '(' + ', '.join(f'{v:g}' for v in values) + ')'
