"""The whole detector (network, box decoding, per-class NMS) as one traceable
module with fixed-shape outputs.

Decoding is the head's own (:mod:`ssd_ext.models.box_head.candidates`, what
``MultiBoxHead.predict_by_feat`` runs); only the dropping of candidates
differs: they are masked instead, so every tensor keeps its shape and one
graph serves any batch size.

Class labels travel through the graph as float32 (normal numbers, exact for
integers below 2**24) and become int64 only at the output. Integer tensors in
an engine's fused floating-point kernels are read as float bit patterns, and
small integers are then denormals: OpenVINO 2026.4's CPU plugin with
denormals flushed to zero turns every label into -1 on AVX2 CPUs
(docs/upstream.md). Float labels cannot depend on the FTZ/DAZ flags.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ssd_ext.deployment.onnx_nms import fixed_shape_nms
from ssd_ext.models.box_head.candidates import (decode_candidates, large_enough,
                                                ranked_pairs)
from ssd_ext.models.box_head.multibox_head import GREEDY_NMS_KEYS, is_greedy_nms


class ExportableSSD(nn.Module):
    """``images`` -> ``(dets, labels)``.

    - ``images``: float32 ``[B, 3, H, W]``, normalised like the model's data
      preprocessor does it; with ``preprocess`` whatever that takes (uint8
      ``[B, H, W, 3]`` for :class:`~ssd_ext.deployment.preprocess.GraphPreprocess`).
    - ``dets``: float32 ``[B, K, 5]``, rows ``(x1, y1, x2, y2, score)`` sorted
      by score, in network-input pixels; ``K`` is the head's
      ``test_cfg.max_per_img`` (at most its ``nms_pre``). Padding rows are zero.
    - ``labels``: int64 ``[B, K]``, class indices, ``-1`` in padding rows.

    Differences from ``predict_by_feat``: boxes are not rescaled to the original
    image (divide x by ``W / orig_w`` and y by ``H / orig_h``), and
    ``min_bbox_size`` is therefore checked in network-input pixels (identical
    for the default 0).

    Args:
        detector: A built ``SingleStageDetector`` with a ``MultiBoxHead``,
            in eval mode.
        input_size: ``(H, W)`` of the network input.
        preprocess: Module run on ``images`` before the network.
    """

    def __init__(self, detector: nn.Module, input_size: Tuple[int, int],
                 preprocess: Optional[nn.Module] = None) -> None:
        super().__init__()
        nms = dict(detector.bbox_head.test_cfg.nms)
        if not is_greedy_nms(nms) or nms.get('class_agnostic', False):
            raise ValueError(f'only per-class hard NMS can be exported (test_cfg.nms '
                             f'keys {sorted(GREEDY_NMS_KEYS)}, no class_agnostic), '
                             f'got test_cfg.nms={nms}')
        if nms.get('offset', 0) != 0:
            # ONNX's NonMaxSuppression computes areas without mmcv's +1 offset.
            raise ValueError(f'test_cfg.nms.offset={nms["offset"]} cannot be exported; '
                             'ONNX NonMaxSuppression has no offset (use 0)')
        per = detector.bbox_head.test_cfg.get('nms_pre_per', 'image')
        if per != 'image':
            raise ValueError(f"test_cfg.nms_pre_per={per!r} cannot be exported: the export "
                             "ranks each image's candidates together (nms_pre_per='image'; "
                             "--cfg-options model.test_cfg.nms_pre_per=image exports that, "
                             'with slightly different detections)')
        self.detector = detector
        self.head = detector.bbox_head
        self.input_size = tuple(int(s) for s in input_size)
        self.preprocess = preprocess

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        x = images if self.preprocess is None else self.preprocess(images)
        head, cfg = self.head, self.head.test_cfg
        cls_scores, bbox_preds = head(self.detector.extract_feat(x))
        logits, deltas = head.flatten_outputs(cls_scores, bbox_preds)
        scores, pairs = ranked_pairs(logits, head.num_classes, cfg.nms_pre)
        labels = float_class_of(pairs, head.num_classes, logits.shape[1])
        img_idx = torch.arange(logits.shape[0])[:, None]  # [B, 1], against [B, k]
        boxes = decode_candidates(head.box_coder, deltas, head.priors(cls_scores),
                                  img_idx, pairs // head.num_classes,
                                  torch.tensor(self.input_size, dtype=torch.float32))
        valid = scores > cfg.score_thr
        if cfg.min_bbox_size >= 0:
            valid = valid & large_enough(boxes, cfg.min_bbox_size)
        iou = float(cfg.nms['iou_threshold'])  # required, as by mmcv's nms
        return fixed_shape_nms(boxes, scores, labels, valid, head.num_classes,
                               min(int(cfg.max_per_img), scores.shape[1]), iou)


def float_class_of(pairs: Tensor, num_classes: int, num_priors: int) -> Tensor:
    """float32 class of each pair index ``prior * C + class`` (int64 [B, k]),
    by float arithmetic only: ``p - floor(p / C) * C``.

    Exact while every index is below 2**24: the index and the result are then
    exact float32 integers, and ``p / C`` (correctly rounded) stays below the
    next integer because its fractional part is at most ``1 - 1/C``.
    """
    if num_priors * num_classes >= 2 ** 24:
        raise ValueError(f'{num_priors} priors x {num_classes} classes exceed the 2**24 '
                         '(prior, class) pairs whose classes float32 holds exactly')
    p = pairs.float()
    return p - torch.floor(p / num_classes) * num_classes
