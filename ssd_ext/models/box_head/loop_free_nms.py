"""Per-(image, class) greedy NMS of a whole batch, without a Python loop over groups.

Rule: it keeps what mmcv 2.1.0's ``batched_nms`` keeps when run per image with the
labels as groups, bit for bit (docs/upstream.md), except among candidates whose
scores tie exactly, which rank here by candidate index. Greedy NMS is solved as
the fixed point of Cluster-NMS on each image's ``[K, K]`` suppression matrix ``A``
(``i`` ranks above ``j``, same class, IoU above the threshold), with one host
synchronisation per iteration for the whole batch. ``A`` and its float32
temporaries are built for at most ``max_elements // K**2`` images at a time. On a
CPU mmcv's kernel does less work, so ``MultiBoxHead`` uses this on GPUs only.
The algorithm, mmcv's arithmetic, ties and memory: docs/model_exactness.md#inference.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

# Elements of a [chunk, K, K] matrix: 2**26 float32 = 256 MB per temporary.
DEFAULT_MAX_ELEMENTS = 2 ** 26


def padded_positions(img_idx: Tensor, num_images: int) -> Tuple[Tensor, Tensor, int]:
    """Where each candidate goes in a ``[B, K]`` layout.

    Args:
        img_idx: LongTensor[N], ascending image index of each candidate.
        num_images: ``B`` (images without candidates count too).

    Returns:
        starts: LongTensor[B], index of each image's first candidate.
        cols: LongTensor[N], each candidate's position within its image.
        K: the most candidates of an image (one host synchronisation).
    """
    counts = torch.bincount(img_idx, minlength=num_images)
    starts = torch.cumsum(counts, 0) - counts
    cols = torch.arange(img_idx.numel(), device=img_idx.device) - starts[img_idx]
    return starts, cols, int(counts.max()) if counts.numel() else 0


def pad(values: Tensor, img_idx: Tensor, cols: Tensor, num_images: int, k: int,
        fill: float) -> Tensor:
    """``values`` [N, ...] scattered to [B, K, ...], ``fill`` elsewhere."""
    out = values.new_full((num_images, k) + values.shape[1:], fill)
    out[img_idx, cols] = values
    return out


def mmcv_group_shift(boxes: Tensor, labels: Tensor, valid: Tensor) -> Tensor:
    """Boxes [B, K, 4] shifted by ``label * (image's max coordinate + 1)``.

    Classes never interact here anyway (``A`` requires equal labels); the shift
    only reproduces the coordinates, and so the rounding, of mmcv's
    ``batched_nms`` called on one image with the labels as groups.
    """
    masked = torch.where(valid[..., None], boxes, float('-inf'))
    top = masked.amax(dim=(1, 2))
    top = torch.where(valid.any(1), top, 0.0)  # no candidates: any finite value
    # Same float32 operations as mmcv: idxs.to(boxes) * (max + 1), then boxes + it.
    shift = labels.to(boxes.dtype) * (top + 1)[:, None]
    return boxes + shift[..., None]


def overlap_mask(boxes: Tensor, iou_threshold: float, offset: int, divide: bool) -> Tensor:
    """BoolTensor[B, K, K]: IoU(box i, box j) > ``iou_threshold`` for boxes
    [B, K, 4], with mmcv's arithmetic (``divide``: its CPU form
    ``inter / union > thr``; otherwise its CUDA form ``inter > thr * union``).

    Written in place where possible: at most three [B, K, K] float temporaries.
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1 + offset) * (y2 - y1 + offset)

    def side(lo: Tensor, hi: Tensor) -> Tensor:
        length = torch.minimum(hi[:, :, None], hi[:, None, :])
        length.sub_(torch.maximum(lo[:, :, None], lo[:, None, :]))
        if offset:
            length.add_(offset)
        return length.clamp_(min=0)

    inter = side(x1, x2)
    inter.mul_(side(y1, y2))
    # (area_i + area_j) - inter: mmcv's order of operations (row i ranks higher).
    union = area[:, :, None] + area[:, None, :]
    union.sub_(inter)
    # mmcv's C++ takes the threshold as a float: round it so (a Python number,
    # not a tensor, which would cost a host-to-device copy and a synchronisation).
    thr = float(torch.tensor(iou_threshold, dtype=torch.float32))
    if divide:
        return inter.div_(union) > thr  # 0 / 0 (two empty boxes) is NaN: no overlap
    return inter > union.mul_(thr)


def suppression_matrix(boxes: Tensor, labels: Tensor, iou_threshold: float, offset: int,
                       divide: bool) -> Tensor:
    """BoolTensor[B, K, K] ``A``: ``A[b, i, j]`` when candidate ``i`` ranks above
    ``j`` (``i < j``; inputs sorted by descending score), both have the same
    label and their IoU exceeds the threshold."""
    rank = torch.arange(boxes.shape[1], device=boxes.device)
    above = rank[:, None] < rank[None, :]
    same = labels[:, :, None] == labels[:, None, :]
    return overlap_mask(boxes, iou_threshold, offset, divide).logical_and_(same).logical_and_(above)


def greedy_keep(suppresses: Tensor, valid: Tensor) -> Tensor:
    """BoolTensor[B, K]: what greedy NMS keeps, given ``suppresses`` [B, K, K]
    (``A`` above) and ``valid`` [B, K] (real candidates, not padding).

    Cluster-NMS from "keep everything" (whose first step is Fast NMS) until the
    kept set stops changing; one host check per iteration for the whole batch.
    """
    keep = valid
    for _ in range(suppresses.shape[1] + 1):  # the fixed point is reached by K
        suppressed = (suppresses & keep[:, :, None]).any(1)
        new = valid & ~suppressed
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def loop_free_batched_nms(boxes: Tensor, scores: Tensor, img_idx: Tensor, labels: Tensor,
                          iou_threshold: float, num_images: Optional[int] = None,
                          offset: int = 0, divide: Optional[bool] = None,
                          max_elements: int = DEFAULT_MAX_ELEMENTS) -> Tensor:
    """Greedy NMS within every (image, label) group of a batch's candidates.

    Args:
        boxes: Tensor[N, 4] ``(x1, y1, x2, y2)``, float32 for mmcv's rounding.
        scores: Tensor[N].
        img_idx: LongTensor[N], the image of each candidate, ascending.
        labels: LongTensor[N], the class of each candidate (non-negative).
        iou_threshold: a candidate is suppressed by a kept, higher-ranked one
            of its image and class whose IoU with it exceeds this.
        num_images: ``B``; default ``img_idx.max() + 1``.
        offset: 0 or 1, added to widths and heights (mmcv's ``offset``).
        divide: compare ``inter / union > thr`` (mmcv's CPU kernel) or
            ``inter > thr * union`` (its CUDA kernel); default: mmcv's rule for
            the device of ``boxes``.
        max_elements: bound on ``chunk * K * K``, the size of the matrices
            computed at once (``A`` and up to three float32 temporaries).

    Returns:
        LongTensor[M], indices of the kept candidates: images in ascending
        order, within each image by descending score (ties: lower index first),
        as mmcv's ``batched_nms`` returns each image's.
    """
    if offset not in (0, 1):
        raise ValueError(f'offset must be 0 or 1, got {offset!r}')
    if divide is None:
        divide = boxes.device.type != 'cuda'
    if boxes.shape[0] == 0:
        return img_idx.new_zeros(0)
    if num_images is None:
        num_images = int(img_idx.max()) + 1
    starts, cols, k = padded_positions(img_idx, num_images)
    valid = pad(torch.ones_like(img_idx, dtype=torch.bool), img_idx, cols, num_images, k,
                False)
    # Padding ranks last: -inf, and a stable sort puts it after any real -inf score.
    order = torch.sort(pad(scores, img_idx, cols, num_images, k, float('-inf')),
                       dim=1, descending=True, stable=True).indices
    valid = torch.gather(valid, 1, order)
    sorted_labels = torch.gather(pad(labels, img_idx, cols, num_images, k, 0), 1, order)
    sorted_boxes = torch.gather(pad(boxes, img_idx, cols, num_images, k, 0.0), 1,
                                order[..., None].expand(-1, -1, 4))
    sorted_boxes = mmcv_group_shift(sorted_boxes, sorted_labels, valid)

    chunk = max(1, max_elements // (k * k))
    keep = torch.cat([
        greedy_keep(suppression_matrix(sorted_boxes[s:s + chunk], sorted_labels[s:s + chunk],
                                       iou_threshold, offset, divide),
                    valid[s:s + chunk])
        for s in range(0, num_images, chunk)])
    # Row-major selection: images ascending, each in descending score.
    return (starts[:, None] + order)[keep]
