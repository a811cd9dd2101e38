"""SSD prior (default) boxes, as Caffe SSD's ``PriorBox`` layer makes them.

Every feature-map cell gets, in this order: a square box of ``min_size``, a square
box of ``sqrt(min_size * max_size)``, then one box per aspect ratio ``r`` and its
flip ``1/r`` (width ``min_size * sqrt(r)``, height ``min_size / sqrt(r)``). Centres
sit at ``(i + offset) * step``. Unlike MMDetection's ``SSDAnchorGenerator`` nothing
here is tied to a 300 or 512 input: sizes come from the Caffe formula for any input
size and any number of levels, or are given explicitly.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ssd_ext.registry import TASK_UTILS
from ssd_ext.utils.validation import check_positive


def caffe_prior_sizes(input_size: int, num_levels: int,
                      s_min: float, s_max: float,
                      first_level_scale: Optional[float] = None
                      ) -> Tuple[List[float], List[float]]:
    """Min/max prior sizes in pixels, with ``ssd_pascal.py``'s integer-percent rule.

    Scales are spread evenly in whole percent between ``s_min`` and ``s_max`` over
    the levels after the first; the first level (conv4_3) gets ``first_level_scale``
    as min and ``s_min`` as max. Without ``first_level_scale`` every level is spread.

    Example (COCO SSD300): ``caffe_prior_sizes(300, 6, 0.15, 0.9, 0.07)`` gives
    min ``[21, 45, 99, 153, 207, 261]`` and max ``[45, 99, 153, 207, 261, 315]``.
    """
    min_ratio, max_ratio = round(s_min * 100), round(s_max * 100)
    spread = num_levels - 1 if first_level_scale is not None else num_levels
    if spread < 2:
        raise ValueError(f'caffe_prior_sizes needs at least 2 spread levels, '
                         f'got num_levels={num_levels}')
    step = (max_ratio - min_ratio) // (spread - 1)
    ratios = [min_ratio + i * step for i in range(spread)]
    min_sizes = [input_size * r / 100 for r in ratios]
    max_sizes = [input_size * (r + step) / 100 for r in ratios]
    if first_level_scale is not None:
        min_sizes.insert(0, input_size * round(first_level_scale * 100) / 100)
        max_sizes.insert(0, input_size * min_ratio / 100)
    return min_sizes, max_sizes


@TASK_UTILS.register_module()
class PriorBoxGenerator:
    """Generates SSD prior boxes for a list of feature maps.

    Args:
        strides: Step of each level in pixels, ``s`` or ``(s_x, s_y)``. ``None``
            derives it per level as input size / feature-map size (Caffe's
            behaviour when ``step`` is not set), which needs ``input_size``.
        ratios: Extra aspect ratios per level, e.g. ``[[2], [2, 3], ...]``; each
            adds ``r`` and, with ``flip``, ``1/r``.
        input_size: Network input, ``s`` or ``(w, h)``; sizes from the Caffe rule
            use ``min(w, h)``.
        scale_range: ``(s_min, s_max)`` for :func:`caffe_prior_sizes`.
        first_level_scale: Scale of the first level's min size (0.07 COCO 300,
            0.04 COCO 512, 0.1 VOC 300); ``None`` spreads all levels.
        min_sizes, max_sizes: Explicit sizes in pixels, instead of the rule.
            ``max_sizes`` may be ``None`` to drop the ``sqrt(min * max)`` box.
        offset: Centre offset within a cell, in cells.
        flip: Also add ``1/r`` for each ratio.
        clip: Clip priors' corners to the input image.
        clip_wh: Cap each prior's width and height at the input's, keeping its
            centre: torchvision's, ssd.pytorch's and lufficc/SSD's clamp of
            normalised ``(cx, cy, w, h)`` to [0, 1] (their wide priors on the
            last levels stay centred and overhang the image). Needs
            ``input_size``.
    """

    def __init__(self,
                 ratios: Sequence[Sequence[float]],
                 strides: Optional[Sequence[Union[int, float, Sequence[float]]]] = None,
                 input_size: Optional[Union[int, Sequence[int]]] = None,
                 scale_range: Optional[Sequence[float]] = None,
                 first_level_scale: Optional[float] = None,
                 min_sizes: Optional[Sequence[float]] = None,
                 max_sizes: Optional[Sequence[float]] = None,
                 offset: float = 0.5,
                 flip: bool = True,
                 clip: bool = False,
                 clip_wh: bool = False) -> None:
        self.num_levels = len(ratios)
        if input_size is not None and not isinstance(input_size, (list, tuple)):
            input_size = (input_size, input_size)
        self.input_size = tuple(input_size) if input_size is not None else None
        if min_sizes is None:
            if scale_range is None or self.input_size is None:
                raise ValueError('PriorBoxGenerator needs either min_sizes or both '
                                 'scale_range and input_size')
            min_sizes, max_sizes = caffe_prior_sizes(
                min(self.input_size), self.num_levels, *scale_range,
                first_level_scale=first_level_scale)
        if len(min_sizes) != self.num_levels:
            raise ValueError(f'min_sizes has {len(min_sizes)} levels but ratios '
                             f'has {self.num_levels}')
        if max_sizes is not None and len(max_sizes) != self.num_levels:
            raise ValueError(f'max_sizes has {len(max_sizes)} levels but ratios '
                             f'has {self.num_levels}')
        if strides is None and self.input_size is None:
            raise ValueError('PriorBoxGenerator with strides=None needs input_size')
        if strides is not None and len(strides) != self.num_levels:
            raise ValueError(f'strides has {len(strides)} levels but ratios has '
                             f'{self.num_levels}')
        for r in (r for level in ratios for r in level):
            check_positive('ratios', r)
        for s in min_sizes:
            check_positive('min_sizes', s)
        for s in max_sizes or ():
            check_positive('max_sizes', s)
        if not 0 <= offset <= 1:
            raise ValueError(f'offset must be in [0, 1], got {offset!r}')
        self.min_sizes = [float(s) for s in min_sizes]
        self.max_sizes = (None if max_sizes is None else
                          [float(s) for s in max_sizes])
        self.strides = None if strides is None else [
            (float(s), float(s)) if not isinstance(s, (list, tuple)) else
            (float(s[0]), float(s[1])) for s in strides]
        self.ratios = [list(r) for r in ratios]
        self.offset = offset
        self.flip = flip
        self.clip = clip
        if clip_wh and self.input_size is None:
            raise ValueError('PriorBoxGenerator with clip_wh=True needs input_size')
        self.clip_wh = clip_wh
        self.base_sizes = [self._cell_box_sizes(i) for i in range(self.num_levels)]

    @property
    def num_base_priors(self) -> List[int]:
        """Priors per feature-map cell, per level."""
        return [len(sizes) for sizes in self.base_sizes]

    def _cell_box_sizes(self, level: int) -> List[Tuple[float, float]]:
        """(w, h) of every prior at one cell, in Caffe's order."""
        s = self.min_sizes[level]
        sizes = [(s, s)]
        if self.max_sizes is not None:
            big = math.sqrt(s * self.max_sizes[level])
            sizes.append((big, big))
        for r in self.ratios[level]:
            root = math.sqrt(r)
            sizes.append((s * root, s / root))
            if self.flip:
                sizes.append((s / root, s * root))
        if self.clip_wh:
            max_w, max_h = self.input_size
            sizes = [(min(w, max_w), min(h, max_h)) for w, h in sizes]
        return sizes

    def grid_priors(self, featmap_sizes: Sequence[Tuple[int, int]],
                    dtype: torch.dtype = torch.float32,
                    device: Union[str, torch.device] = 'cpu') -> Tensor:
        """Priors of all levels, concatenated.

        Args:
            featmap_sizes: ``(h, w)`` of each level.

        Returns:
            Tensor[P, 4]: ``(x1, y1, x2, y2)`` in input pixels, ordered level,
            row, column, then prior within the cell (the head's output order).
        """
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'got {len(featmap_sizes)} feature maps for '
                             f'{self.num_levels} prior levels')
        priors = [self.single_level_grid_priors(level, size, dtype, device)
                  for level, size in enumerate(featmap_sizes)]
        return torch.cat(priors)

    def single_level_grid_priors(self, level: int, featmap_size: Tuple[int, int],
                                 dtype: torch.dtype = torch.float32,
                                 device: Union[str, torch.device] = 'cpu'
                                 ) -> Tensor:
        """Tensor[H * W * A, 4] of one level's priors."""
        feat_h, feat_w = featmap_size
        if self.strides is not None:
            step_x, step_y = self.strides[level]
        else:
            step_x = self.input_size[0] / feat_w
            step_y = self.input_size[1] / feat_h
        # Computed in float64 so the boxes are exact to float32 rounding.
        cx = (torch.arange(feat_w, dtype=torch.float64, device=device)
              + self.offset) * step_x
        cy = (torch.arange(feat_h, dtype=torch.float64, device=device)
              + self.offset) * step_y
        cy, cx = torch.meshgrid(cy, cx, indexing='ij')
        centers = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
        wh = torch.tensor(self.base_sizes[level], dtype=torch.float64,
                          device=device)
        half = torch.cat([-wh / 2, wh / 2], dim=-1)
        priors = (centers + half[None]).reshape(-1, 4)
        if self.clip:
            if self.input_size is not None:
                img_w, img_h = self.input_size
            else:
                img_w, img_h = feat_w * step_x, feat_h * step_y
            priors[:, 0::2] = priors[:, 0::2].clamp(0, img_w)
            priors[:, 1::2] = priors[:, 1::2].clamp(0, img_h)
        return priors.to(dtype)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(min_sizes={self.min_sizes}, '
                f'max_sizes={self.max_sizes}, strides={self.strides}, '
                f'ratios={self.ratios}, offset={self.offset}, clip={self.clip}, '
                f'clip_wh={self.clip_wh})')
