"""Prior-to-ground-truth matching of the MultiBox loss, batched over images.

A prior is positive for the ground truth it overlaps most when that IoU is at
least ``pos_iou_thr``; in addition every ground truth is forced onto its single
best prior, so that even a box no prior overlaps by 0.5 (a small object) trains
one positive. When two ground truths force the same prior, the later one wins.
"""
from typing import Tuple

import torch
from torch import Tensor

from ssd_ext.structures.box_iou import box_iou


def match_priors(gt_boxes: Tensor, gt_valid: Tensor, priors: Tensor,
                 pos_iou_thr: float = 0.5) -> Tuple[Tensor, Tensor]:
    """Matches priors to ground truths for a padded batch.

    Args:
        gt_boxes: Tensor[B, G, 4], padded ground truths.
        gt_valid: BoolTensor[B, G], False on padding.
        priors: Tensor[P, 4].

    Returns:
        matched_idx: LongTensor[B, P], index into G of each prior's ground truth.
        positive: BoolTensor[B, P].
    """
    num_images, num_gts = gt_valid.shape
    num_priors = priors.shape[0]
    iou = box_iou(gt_boxes.float(), priors.float())  # [B, G, P]
    iou = iou.masked_fill(~gt_valid[..., None], -1.0)
    if num_gts == 0:
        zeros = torch.zeros(num_images, num_priors, dtype=torch.long,
                            device=priors.device)
        return zeros, zeros.bool()
    best_iou, matched_idx = iou.max(dim=1)
    positive = best_iou >= pos_iou_thr

    # Forced matches: scatter each valid gt's index onto its best prior; padding
    # goes to a spare column that is dropped. 'amax' makes the later gt win.
    best_prior = iou.argmax(dim=2).masked_fill(~gt_valid, num_priors)
    gt_index = torch.arange(num_gts, device=priors.device).expand(num_images, -1)
    forced = torch.full((num_images, num_priors + 1), -1, dtype=torch.long,
                        device=priors.device)
    forced.scatter_reduce_(1, best_prior, gt_index, reduce='amax')
    forced = forced[:, :num_priors]
    is_forced = forced >= 0
    matched_idx = torch.where(is_forced, forced, matched_idx)
    return matched_idx, positive | is_forced
