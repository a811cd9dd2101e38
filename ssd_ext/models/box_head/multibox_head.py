"""SSD's detection head: a 3x3 conv classifier and box regressor per level,
trained with the MultiBox loss and decoded with per-class NMS."""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.ops import batched_nms
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from ssd_ext.models.box_head.loop_free_nms import loop_free_batched_nms
from ssd_ext.models.box_head.box_coder import BoxCoder
from ssd_ext.models.box_head.candidates import (NMS_PRE_SCOPES, decode_candidates,
                                                large_enough, top_candidates)
from ssd_ext.models.box_head.matcher import match_priors
from ssd_ext.models.box_head.multibox_loss import multibox_loss, prior_cross_entropy
from ssd_ext.registry import MODELS, TASK_UTILS
from ssd_ext.utils.validation import check_keys, check_positive

TRAIN_CFG_DEFAULTS = dict(pos_iou_thr=0.5, neg_pos_ratio=3.0, smooth_l1_beta=1.0,
                          min_neg_per_image=0)
TEST_CFG_DEFAULTS = dict(score_thr=0.02, nms=dict(type='nms', iou_threshold=0.45),
                         nms_pre=1000, nms_pre_per='image', min_bbox_size=0,
                         max_per_img=200)


# Keys of ``test_cfg.nms`` under which mmcv's ``batched_nms`` is plain greedy
# NMS; its others (``score_threshold``, ``max_num``, soft-NMS's) change what
# it keeps, which neither the loop-free path nor the ONNX export computes.
GREEDY_NMS_KEYS = frozenset({'type', 'iou_threshold', 'offset', 'class_agnostic',
                             'split_thr'})


def is_greedy_nms(nms_cfg: dict) -> bool:
    """Whether an ``nms`` config is plain greedy NMS (see ``GREEDY_NMS_KEYS``)."""
    return nms_cfg.get('type', 'nms') == 'nms' and set(nms_cfg) <= GREEDY_NMS_KEYS


def _merge_cfg(owner: str, cfg: Optional[dict], defaults: dict) -> ConfigDict:
    cfg = dict(cfg or {})
    check_keys(owner, cfg, defaults)
    return ConfigDict({**defaults, **cfg})


@MODELS.register_module()
class MultiBoxHead(BaseModule):
    """SSD head. Class index ``num_classes`` is the background (MMDetection's
    convention, so its SSD weights convert by renaming only).

    Args:
        num_classes: Object classes, without background.
        in_channels: Channels of each input level.
        prior_generator: Config of a :class:`PriorBoxGenerator`.
        variances: Box-encoding variances.
        train_cfg: ``pos_iou_thr`` (0.5), ``neg_pos_ratio`` (3),
            ``smooth_l1_beta`` (1), ``min_neg_per_image`` (0: as in the paper,
            an image without boxes adds no loss; > 0 trains it as background).
        test_cfg: ``score_thr`` (0.02), ``nms`` (per-class, IoU 0.45),
            ``nms_pre`` (candidates kept before NMS, -1 for all) per
            ``nms_pre_per`` (``'image'``; ``'level'`` as MMDetection,
            ``'class'`` as torchvision), ``min_bbox_size`` (0; -1 keeps
            boxes clipped to nothing, as torchvision does), ``max_per_img``
            (200).
        background_prior: If set, the classifier starts out predicting
            background with this probability at every prior (e.g. 0.99),
            instead of uniform scores. From scratch this removes the huge
            initial loss of ~8,700 near-uniform negatives per image, which
            otherwise dominates the first hundreds of steps. ``None`` is the
            paper's initialisation.
        unused_logits: Logits per prior after the background that join the
            softmax but are no class: a converted head whose source scores
            ids no dataset class has (torchvision's COCO head scores 90
            category ids, 10 of them unused). 0 in ssd_ext's own configs.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int],
                 prior_generator: dict,
                 variances: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 background_prior: Optional[float] = None,
                 unused_logits: int = 0,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform',
                     bias=0)) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise TypeError(f'num_classes must be an int, got {num_classes!r}')
        check_positive('num_classes', num_classes)
        self.num_classes = num_classes
        if isinstance(unused_logits, bool) or not isinstance(unused_logits, int) \
                or unused_logits < 0:
            raise ValueError(f'unused_logits must be an int >= 0, got {unused_logits!r}')
        self.num_logits = num_classes + 1 + unused_logits
        self.prior_generator = TASK_UTILS.build(prior_generator)
        if len(in_channels) != self.prior_generator.num_levels:
            raise ValueError(f'in_channels has {len(in_channels)} levels but the '
                             f'prior generator has {self.prior_generator.num_levels}')
        self.box_coder = BoxCoder(variances)
        self.train_cfg = _merge_cfg('train_cfg', train_cfg, TRAIN_CFG_DEFAULTS)
        self.test_cfg = _merge_cfg('test_cfg', test_cfg, TEST_CFG_DEFAULTS)
        if self.test_cfg.nms_pre_per not in NMS_PRE_SCOPES:
            raise ValueError(f'test_cfg.nms_pre_per must be one of {NMS_PRE_SCOPES}, '
                             f'got {self.test_cfg.nms_pre_per!r}')
        anchors = self.prior_generator.num_base_priors
        self.cls_convs = nn.ModuleList(
            nn.Conv2d(c, a * self.num_logits, 3, padding=1)
            for c, a in zip(in_channels, anchors))
        self.reg_convs = nn.ModuleList(
            nn.Conv2d(c, a * 4, 3, padding=1) for c, a in zip(in_channels, anchors))
        if background_prior is not None and not 0 < background_prior < 1:
            raise ValueError(f'background_prior must be in (0, 1), got {background_prior!r}')
        self.background_prior = background_prior
        self._prior_cache: Dict[tuple, Tensor] = {}

    def init_weights(self) -> None:
        super().init_weights()
        if self.background_prior is None:
            return
        # softmax gives p(bg) = e^b / (e^b + L - 1) when the other L - 1 logits are 0.
        p = self.background_prior
        bias = math.log(p * (self.num_logits - 1) / (1 - p))
        logits = torch.zeros(self.num_logits)
        logits[self.num_classes] = bias
        with torch.no_grad():
            for conv in self.cls_convs:
                conv.bias.view(-1, self.num_logits).copy_(logits)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Per-level maps: class logits [B, A*L, H, W] (L = C + 1 + unused
        logits), deltas [B, A*4, H, W]."""
        cls_scores = [conv(f) for conv, f in zip(self.cls_convs, feats)]
        bbox_preds = [conv(f) for conv, f in zip(self.reg_convs, feats)]
        return cls_scores, bbox_preds

    @staticmethod
    def flatten_levels(maps: Sequence[Tensor], channels: int) -> Tensor:
        """Per-level [B, A * channels, H, W] maps to Tensor[B, P, channels], in
        the prior generator's order."""
        batch = maps[0].shape[0]
        return torch.cat([m.permute(0, 2, 3, 1).reshape(batch, -1, channels)
                          for m in maps], 1)

    def flatten_outputs(self, cls_scores: Sequence[Tensor],
                        bbox_preds: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Tensor[B, P, L] logits and Tensor[B, P, 4] deltas."""
        return (self.flatten_levels(cls_scores, self.num_logits),
                self.flatten_levels(bbox_preds, 4))

    def priors(self, cls_scores: Sequence[Tensor]) -> Tensor:
        """Tensor[P, 4] priors for these feature maps, cached per size and device."""
        sizes = tuple(tuple(s.shape[-2:]) for s in cls_scores)
        key = (sizes, cls_scores[0].device)
        if key not in self._prior_cache:
            self._prior_cache[key] = self.prior_generator.grid_priors(
                sizes, device=cls_scores[0].device)
        return self._prior_cache[key]

    # ------------------------------------------------------------------ training
    def loss(self, feats: Sequence[Tensor], batch_data_samples: list) -> Dict[str, Tensor]:
        return self.loss_by_feat(*self(feats),
                                 [s.gt_instances for s in batch_data_samples])

    def targets(self, priors: Tensor, gt_instances: Sequence[InstanceData]
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """Per-prior training targets for a batch.

        Args:
            priors: Tensor[P, 4], corners in input pixels.
            gt_instances: Per image ``bboxes`` [G_i, 4] and ``labels`` [G_i].

        Returns:
            labels: LongTensor[B, P], ``num_classes`` for background.
            box_targets: Tensor[B, P, 4], zero where not positive.
            positive: BoolTensor[B, P].
        """
        device = priors.device
        boxes = pad_sequence([g.bboxes.to(device, torch.float32).reshape(-1, 4)
                              for g in gt_instances], batch_first=True)
        gt_labels = pad_sequence([g.labels.to(device).long().reshape(-1)
                                  for g in gt_instances], batch_first=True)
        lengths = torch.tensor([len(g) for g in gt_instances], device=device)
        valid = torch.arange(boxes.shape[1], device=device) < lengths[:, None]
        # Zero-area boxes cannot be encoded (log 0); they never match a prior.
        valid &= (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
        matched, positive = match_priors(boxes, valid, priors,
                                         self.train_cfg.pos_iou_thr)
        if boxes.shape[1] == 0:
            labels = torch.full_like(matched, self.num_classes)
            return labels, priors.new_zeros(*matched.shape, 4), positive
        labels = torch.gather(gt_labels, 1, matched)
        labels = torch.where(positive, labels, self.num_classes)
        matched_boxes = torch.gather(boxes, 1, matched[..., None].expand(-1, -1, 4))
        encoded = self.box_coder.encode(matched_boxes, priors[None])
        box_targets = torch.where(positive[..., None], encoded, 0.0)
        return labels, box_targets, positive

    def loss_by_feat(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor],
                     batch_gt_instances: Sequence[InstanceData]) -> Dict[str, Tensor]:
        labels, box_targets, positive = self.targets(self.priors(cls_scores),
                                                     batch_gt_instances)
        deltas = self.flatten_levels(bbox_preds, 4)
        ce = prior_cross_entropy(cls_scores, labels, self.num_logits)
        return multibox_loss(ce, deltas, box_targets, positive,
                             self.train_cfg.neg_pos_ratio,
                             self.train_cfg.smooth_l1_beta,
                             self.train_cfg.min_neg_per_image)

    # ----------------------------------------------------------------- inference
    def predict(self, feats: Sequence[Tensor], batch_data_samples: list,
                rescale: bool = False) -> List[InstanceData]:
        return self.predict_by_feat(*self(feats),
                                    [s.metainfo for s in batch_data_samples],
                                    rescale=rescale)

    def predict_by_feat(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor],
                        batch_img_metas: Sequence[dict], rescale: bool = False
                        ) -> List[InstanceData]:
        """Decodes, thresholds and NMSes the whole batch at once.

        Returns one ``InstanceData`` per image with ``bboxes`` [N, 4] (in the
        original image when ``rescale``), ``scores`` [N] and ``labels`` [N].
        """
        cfg = self.test_cfg
        logits, deltas = self.flatten_outputs(cls_scores, bbox_preds)
        batch = logits.shape[0]
        level_sizes = [m.shape[-2] * m.shape[-1] * a for m, a in
                       zip(cls_scores, self.prior_generator.num_base_priors)]
        top = top_candidates(logits, self.num_classes, cfg.nms_pre, cfg.nms_pre_per,
                             level_sizes)
        keep = top.scores > cfg.score_thr
        img_idx = torch.arange(batch, device=logits.device)[:, None].expand_as(keep)[keep]
        det_scores, det_labels = top.scores[keep], top.labels[keep]

        # float32, not the logits' dtype: under AMP that is fp16, which rounds
        # scale factors such as 300 / 427 (and sizes above 2048).
        img_shapes = torch.tensor([m['img_shape'][:2] for m in batch_img_metas],
                                  dtype=torch.float32, device=logits.device)
        boxes = decode_candidates(self.box_coder, deltas, self.priors(cls_scores),
                                  img_idx, top.prior_idx[keep], img_shapes[img_idx])
        if rescale:
            factors = torch.tensor([m['scale_factor'] for m in batch_img_metas],
                                   dtype=torch.float32, device=logits.device)
            boxes = boxes / factors[img_idx].repeat(1, 2)
        if cfg.min_bbox_size >= 0:
            big = large_enough(boxes, cfg.min_bbox_size)
            boxes, det_scores = boxes[big], det_scores[big]
            det_labels, img_idx = det_labels[big], img_idx[big]

        dets, kept = self._suppress(boxes, det_scores, img_idx, det_labels, batch)
        # Kept detections come grouped by image: one host synchronisation splits them.
        counts = torch.bincount(img_idx[kept], minlength=batch).tolist()
        results = []
        for d, labels in zip(dets.split(counts), det_labels[kept].split(counts)):
            res = InstanceData()
            res.bboxes = d[:cfg.max_per_img, :4]
            res.scores = d[:cfg.max_per_img, 4]
            res.labels = labels[:cfg.max_per_img]
            results.append(res)
        return results

    def _suppress(self, boxes: Tensor, scores: Tensor, img_idx: Tensor, labels: Tensor,
                  batch: int) -> Tuple[Tensor, Tensor]:
        """Per-class NMS of each image's candidates (``img_idx`` ascending).

        Returns ``dets`` [K, 5] (box, score) and the indices [K] of the candidates
        kept, grouped by image in ascending order, each image's in descending
        score. On a GPU the whole batch goes through ``loop_free_batched_nms``
        (no Python loop over (image, class) groups, no synchronisation per
        image) when the config is plain greedy NMS (:func:`is_greedy_nms`).
        Otherwise, and on a CPU, mmcv's kernel runs once per image (on a CPU
        the faster way, see ``loop_free_nms.py``).
        """
        if boxes.numel() == 0:  # mmcv 2.1.0's batched_nms fails on no boxes (docs/upstream.md)
            return boxes.new_zeros((0, 5)), img_idx
        nms_cfg = dict(self.test_cfg.nms)
        if boxes.is_cuda and is_greedy_nms(nms_cfg):
            return self._suppress_loop_free(boxes, scores, img_idx, labels, batch)
        dets, kept, start = [], [], 0
        for count in torch.bincount(img_idx, minlength=batch).tolist():
            if count:
                end = start + count
                d, k = batched_nms(boxes[start:end], scores[start:end],
                                   labels[start:end], nms_cfg)
                dets.append(d)
                kept.append(k + start)
                start = end
        return torch.cat(dets), torch.cat(kept)

    def _suppress_loop_free(self, boxes: Tensor, scores: Tensor, img_idx: Tensor,
                            labels: Tensor, batch: int) -> Tuple[Tensor, Tensor]:
        """``_suppress`` of a GPU, on any device: the same contract, in one call
        for the batch. ``split_thr`` is irrelevant here (no per-group loop)."""
        nms_cfg = dict(self.test_cfg.nms)
        if nms_cfg.get('class_agnostic', False):
            labels = torch.zeros_like(labels)
        kept = loop_free_batched_nms(boxes, scores, img_idx, labels,
                                     nms_cfg['iou_threshold'], num_images=batch,
                                     offset=nms_cfg.get('offset', 0))
        return torch.cat([boxes[kept], scores[kept, None]], 1), kept
