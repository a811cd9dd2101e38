"""SSD's training augmentation (Liu et al. 2016, Sec. 2.2 and 3.6) in two transforms.

MMDetection spells it as five transforms over the full-size image:
``PhotoMetricDistortion -> Expand -> MinIoURandomCrop -> Resize -> RandomFlip``. The
distortion turns the image into float32, ``Expand`` materialises a canvas of up to
16x the image's area and every step copies it. Here:

* :class:`SSDRandomGeometry` draws the expansion, the min-IoU crop and the flip with
  the same numpy calls, in the same order, as MMDetection 3.3.0's Expand, MinIoURandomCrop,
  Resize and RandomFlip (run on their own, a seed gives both the same boxes), then
  renders the output with one ``cv2.warpAffine`` from the original image: the canvas
  and the crop are never built.
* :class:`SSDPhotometricDistortion` draws and computes the distortions exactly as
  MMDetection's does (float32, values free to leave 0..255), on the
  ``input_size``-square result instead of the full image. The distortions act on
  each pixel alone, so after the resampling they give the same image except where
  bilinear interpolation blends neighbouring pixels (edges; the HSV round trip and
  the clipping are not linear). The expansion's mean fill is left alone, as when
  the distortion runs first.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ssd_ext.registry import TRANSFORMS
from ssd_ext.structures.box_iou import box_iou

# results key: the output rectangle (x1, y1, x2, y2) that shows the source image;
# outside it lies the expansion's mean fill.
IMAGE_REGION = 'ssd_image_region'


def _box_array(boxes) -> np.ndarray:
    """Float32 [N, 4] array from MMDetection boxes, a tensor or an array."""
    if boxes is None:
        return np.zeros((0, 4), np.float32)
    if hasattr(boxes, 'tensor'):
        boxes = boxes.tensor
    if hasattr(boxes, 'numpy'):
        boxes = boxes.detach().cpu().numpy()
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def _like(array: np.ndarray, original):
    """``array`` as the same kind of box container as ``original``."""
    if original is None or isinstance(original, np.ndarray):
        return array
    tensor = torch.from_numpy(array)
    return type(original)(tensor) if hasattr(original, 'tensor') else tensor


# MMDetection's MinIoURandomCrop: tries per drawn IoU mode, and the uniform
# draws of one try (patch width and height, then its left and top offsets).
CROP_TRIES = 50
DRAWS_PER_TRY = 4


def replay_crop_tries(draws: Sequence[float], w: int, h: int, min_crop_size: float
                      ) -> Tuple[List[Tuple[int, int, int, int]], List[int], int]:
    """MMDetection's ``CROP_TRIES`` patch draws on a ``w`` x ``h`` canvas, computed
    from ``draws``: the doubles ``np.random`` would give them, in order.

    ``np.random.uniform(low, high)`` is ``low + (high - low) * d`` of the next
    double ``d``, so this is the same arithmetic on the same numbers. A try whose
    aspect ratio falls outside ``[1/2, 2]`` uses two draws and ends; the others
    use four. Returns the patches of the tries that are neither rejected for
    their aspect ratio nor degenerate, the number of draws used up to and
    including each, and the number all tries use.
    """
    patches, used, i = [], [], 0
    low_w, low_h = min_crop_size * w, min_crop_size * h
    for _ in range(CROP_TRIES):
        new_w = low_w + (w - low_w) * draws[i]
        new_h = low_h + (h - low_h) * draws[i + 1]
        i += 2
        if new_h / new_w < 0.5 or new_h / new_w > 2:
            continue
        # MMDetection's uniform(low) has high=1: the offset lies in [1, w - new_w].
        low_x, low_y = w - new_w, h - new_h
        left = low_x + (1.0 - low_x) * draws[i]
        top = low_y + (1.0 - low_y) * draws[i + 1]
        i += 2
        patch = (int(left), int(top), int(left + new_w), int(top + new_h))
        if patch[2] != patch[0] and patch[3] != patch[1]:
            patches.append(patch)
            used.append(i)
    return patches, used, i


def first_acceptable_patch(patches: Sequence[Tuple[int, int, int, int]], boxes: np.ndarray,
                           centers: np.ndarray, min_iou: float
                           ) -> Tuple[Optional[int], Optional[np.ndarray]]:
    """Index of the first patch that overlaps every box [N, 4] with IoU >=
    ``min_iou`` and holds a box centre [N, 2], and the mask [N] of the centres
    it holds (None: no boxes); ``(None, None)`` when no patch qualifies."""
    if not patches:
        return None, None
    if len(boxes) == 0:
        return 0, None
    fpatches = np.array(patches, np.float32)
    ok = box_iou(fpatches, boxes).min(1) >= min_iou  # [T, N] -> [T]
    inside = ((centers[None] > fpatches[:, None, :2])
              & (centers[None] < fpatches[:, None, 2:])).all(2)
    ok &= inside.any(1)
    if not ok.any():
        return None, None
    chosen = int(ok.argmax())
    return chosen, inside[chosen]


@TRANSFORMS.register_module()
class SSDRandomGeometry(BaseTransform):
    """Expansion (optional), min-IoU random crop, resize and horizontal flip.

    Draws as MMDetection's ``Expand``, ``MinIoURandomCrop``, ``Resize(keep_ratio=False)``
    and ``RandomFlip`` in sequence, with the same probabilities:

    * expansion with probability ``expand['prob']``: the image is put at a random
      place on a canvas ``ratio`` times its size, ``ratio ~ U(ratio_range)``,
      filled with the mean;
    * crop: one of ``(no crop, *min_ious, any)`` uniformly; for a minimum IoU, up to
      50 patches with sides in ``[min_crop_size, 1]`` of the canvas and aspect ratio
      in ``[1/2, 2]`` are drawn until one overlaps every box with at least that IoU
      and contains a box centre; boxes whose centre falls outside are dropped;
    * resize to ``size`` (boxes clipped to it) and flip with probability ``flip_prob``.

    Args:
        size: ``(w, h)`` output size.
        expand: ``dict(prob, ratio_range, mean, to_rgb)`` or None for no expansion.
            ``mean`` is the data preprocessor's (RGB with ``to_rgb=True``, as in
            MMDetection's ``Expand``), so the fill becomes zero after normalisation
            (within 0.5 / std: an 8-bit image gets the mean rounded).
        min_ious: IoU thresholds of the crop modes.
        min_crop_size: smallest patch side, as a fraction of the canvas side.
        flip_prob: probability of a horizontal flip.

    Boxes come back in the container they came in (``HorizontalBoxes``, tensor or
    array); labels and ignore flags are filtered with them.
    """

    def __init__(self,
                 size: Tuple[int, int],
                 expand: Optional[dict] = None,
                 min_ious: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
                 min_crop_size: float = 0.3,
                 flip_prob: float = 0.5) -> None:
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) <= 0:
            raise ValueError(f'size must be positive (w, h), got {size!r}')
        self.expand = None
        if expand is not None:
            unknown = set(expand) - {'prob', 'ratio_range', 'mean', 'to_rgb'}
            if unknown:
                raise KeyError(f'SSDRandomGeometry: unknown expand keys {sorted(unknown)}')
            low, high = expand.get('ratio_range', (1, 4))
            if not 1 <= low <= high:
                raise ValueError(f'expand ratio_range must satisfy 1 <= low <= high, '
                                 f'got {(low, high)!r}')
            mean = list(expand.get('mean', (0, 0, 0)))
            if expand.get('to_rgb', True):
                mean = mean[::-1]
            self.expand = dict(prob=float(expand.get('prob', 0.5)),
                               ratio_range=(float(low), float(high)),
                               fill=tuple(float(m) for m in mean))
        if not 0 < min_crop_size <= 1:
            raise ValueError(f'min_crop_size must be in (0, 1], got {min_crop_size!r}')
        self.sample_mode = (1, *min_ious, 0)  # 1: keep the canvas, 0: any crop
        self.min_crop_size = float(min_crop_size)
        self.flip_prob = float(flip_prob)

    # ------------------------------------------------------------- sampling
    def _sample_expand(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """``(canvas_w, canvas_h, left, top)``; the image itself when not expanding."""
        if self.expand is None or np.random.uniform(0, 1) > self.expand['prob']:
            return w, h, 0, 0
        ratio = np.random.uniform(*self.expand['ratio_range'])
        left = int(np.random.uniform(0, w * ratio - w))
        top = int(np.random.uniform(0, h * ratio - h))
        return int(w * ratio), int(h * ratio), left, top

    def _sample_crop(self, w: int, h: int, boxes: np.ndarray
                     ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Integer patch ``(x1, y1, x2, y2)`` on the ``w`` x ``h`` canvas and the mask
        of boxes kept (None: all)."""
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        while True:
            min_iou = self.sample_mode[np.random.randint(len(self.sample_mode))]
            if min_iou == 1:
                return np.array((0, 0, w, h)), None
            # MMDetection draws and tests one try at a time, a dozen small numpy
            # calls each (most of the pipeline's time on COCO, where small boxes
            # fail the high IoUs). The same draws are read ahead here, the tries
            # tested together, and the generator then moved past exactly the
            # draws MMDetection's tries would have taken.
            state = np.random.get_state()
            draws = np.random.random_sample(DRAWS_PER_TRY * CROP_TRIES).tolist()
            np.random.set_state(state)
            patches, used, used_by_all = replay_crop_tries(draws, w, h, self.min_crop_size)
            chosen, inside = first_acceptable_patch(patches, boxes, centers, min_iou)
            np.random.random_sample(used_by_all if chosen is None else used[chosen])
            if chosen is not None:
                return np.array(patches[chosen]), inside

    # ------------------------------------------------------------- transform
    def transform(self, results: dict) -> dict:
        for key in ('gt_masks', 'gt_seg_map'):
            if results.get(key) is not None:
                raise NotImplementedError(
                    f'SSDRandomGeometry transforms boxes only; {results.get("img_path")} '
                    f'has {key}: use MMDetection\'s Expand/MinIoURandomCrop/Resize/'
                    f'RandomFlip for masks')
        img = results['img']
        h, w = img.shape[:2]
        original = results.get('gt_bboxes')
        boxes = _box_array(original)
        out_w, out_h = self.size

        canvas_w, canvas_h, left, top = self._sample_expand(h, w)
        boxes = boxes + np.array([left, top, left, top], np.float32)
        patch, keep = self._sample_crop(canvas_w, canvas_h, boxes)
        if keep is not None:
            boxes = boxes[keep]
            for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
                if results.get(key) is not None:
                    results[key] = results[key][keep]
        crop_w, crop_h = patch[2] - patch[0], patch[3] - patch[1]
        boxes = boxes - patch[[0, 1, 0, 1]].astype(np.float32)
        boxes = boxes.clip(0, np.array([crop_w, crop_h, crop_w, crop_h], np.float32))
        sx, sy = out_w / crop_w, out_h / crop_h
        boxes = (boxes * np.array([sx, sy, sx, sy], np.float32)).clip(
            0, np.array([out_w, out_h, out_w, out_h], np.float32))
        flip = np.random.random_sample() < self.flip_prob  # as RandomFlip's choice
        if flip:
            boxes = np.stack([out_w - boxes[:, 2], boxes[:, 1],
                              out_w - boxes[:, 0], boxes[:, 3]], 1)

        # Output pixel (u, v) samples source pixel (x, y), with cv2.resize's
        # half-pixel centres: x = (u + 0.5) / sx - 0.5 + patch_x1 - left.
        x0 = patch[0] - left - 0.5 + 0.5 / sx
        if flip:  # u -> out_w - 1 - u
            ax, bx = -1.0 / sx, x0 + (out_w - 1) / sx
        else:
            ax, bx = 1.0 / sx, x0
        matrix = np.array([[ax, 0.0, bx],
                           [0.0, 1.0 / sy, patch[1] - top - 0.5 + 0.5 / sy]])
        expanded = (canvas_w, canvas_h) != (w, h)
        results['img'] = cv2.warpAffine(
            img, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT if expanded else cv2.BORDER_REPLICATE,
            borderValue=self.expand['fill'] if expanded else 0)
        if expanded:
            # Where the source image lands in the output (rounded to whole pixels).
            xs = (np.array([left, left + w]) - patch[0]) * sx
            if flip:
                xs = out_w - xs[::-1]
            ys = (np.array([top, top + h]) - patch[1]) * sy
            x1, x2 = np.clip(np.round(xs), 0, out_w).astype(int)
            y1, y2 = np.clip(np.round(ys), 0, out_h).astype(int)
            results[IMAGE_REGION] = (int(x1), int(y1), int(x2), int(y2))
        else:
            results.pop(IMAGE_REGION, None)
        results['gt_bboxes'] = _like(boxes, original)
        results['img_shape'] = (out_h, out_w)
        results['scale_factor'] = (float(sx), float(sy))
        results['keep_ratio'] = False
        results['flip'] = bool(flip)
        results['flip_direction'] = 'horizontal' if flip else None
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, expand={self.expand}, '
                f'min_ious={self.sample_mode[1:-1]}, min_crop_size={self.min_crop_size}, '
                f'flip_prob={self.flip_prob})')


@TRANSFORMS.register_module()
class SSDPhotometricDistortion(BaseTransform):
    """Random brightness, contrast, saturation, hue and channel swap.

    Each distortion is applied with probability 1/2, contrast either before or after
    the saturation and hue (1/2 each), with MMDetection's ``PhotoMetricDistortion``
    draws, ranges and float32 arithmetic: brightness ``+U(-delta, delta)``, contrast
    and saturation ``xU(range)``, hue ``+U(-hue_delta, hue_delta)`` degrees, a random
    channel order. Only the ``ssd_image_region`` that :class:`SSDRandomGeometry`
    records (the source image) is distorted; the whole image when there is none.
    The result is float32, as MMDetection's.
    """

    def __init__(self,
                 brightness_delta: float = 32,
                 contrast_range: Tuple[float, float] = (0.5, 1.5),
                 saturation_range: Tuple[float, float] = (0.5, 1.5),
                 hue_delta: float = 18) -> None:
        self.brightness_delta = float(brightness_delta)
        self.contrast_lower, self.contrast_upper = map(float, contrast_range)
        self.saturation_lower, self.saturation_upper = map(float, saturation_range)
        self.hue_delta = float(hue_delta)

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32)
        # The draws of MMDetection 3.3.0's PhotoMetricDistortion._random_flags, in order
        # (docs/upstream.md).
        contrast_last = np.random.randint(2) == 0
        brightness, contrast, saturation, hue, swap = (np.random.randint(2)
                                                       for _ in range(5))
        delta = np.random.uniform(-self.brightness_delta, self.brightness_delta)
        alpha = np.random.uniform(self.contrast_lower, self.contrast_upper)
        sat = np.random.uniform(self.saturation_lower, self.saturation_upper)
        hue_shift = np.random.uniform(-self.hue_delta, self.hue_delta)
        order = np.random.permutation(3)

        x1, y1, x2, y2 = results.get(IMAGE_REGION, (0, 0, img.shape[1], img.shape[0]))
        results['img'] = img
        if x2 <= x1 or y2 <= y1:  # the crop holds only expansion fill
            return results
        region = img[y1:y2, x1:x2]  # a view: the distortions write into img
        if brightness:
            region += delta
        if contrast and not contrast_last:
            region *= alpha
        # Float BGR in 0..255 gives H in degrees, S in 0..1, V in 0..255. Always
        # converted, as MMDetection does: the round trip is not the identity for
        # values that brightness pushed below 0.
        hsv = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_BGR2HSV)
        if saturation:
            hsv[..., 1] *= sat
            if sat > 1:
                np.clip(hsv[..., 1], 0, 1, out=hsv[..., 1])
        if hue:
            h = hsv[..., 0]
            h += hue_shift
            h[h > 360] -= 360
            h[h < 0] += 360
        region[...] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        if contrast and contrast_last:
            region *= alpha
        if swap:
            region[...] = region[..., order]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness_delta={self.brightness_delta}, '
                f'contrast_range={(self.contrast_lower, self.contrast_upper)}, '
                f'saturation_range={(self.saturation_lower, self.saturation_upper)}, '
                f'hue_delta={self.hue_delta})')
