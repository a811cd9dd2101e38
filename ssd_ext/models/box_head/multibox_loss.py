"""The MultiBox loss: smooth L1 on positives plus softmax cross-entropy with hard
negative mining, both divided by the number of positives in the batch.

Everything is batched: one cross-entropy over ``[B, P]``, one sort per batch to
mine the hardest ``neg_pos_ratio`` negatives per positive in each image, and no
host synchronisation (the positive count stays on the device).
"""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor


def hard_negative_mask(ce: Tensor, positive: Tensor, neg_pos_ratio: float) -> Tensor:
    """BoolTensor[B, P] of the hardest negatives: per image, the
    ``neg_pos_ratio * num_pos`` non-positive priors of largest loss ``ce`` [B, P]."""
    neg_loss = ce.detach().masked_fill(positive, -1.0)
    num_neg = (positive.sum(1, keepdim=True) * neg_pos_ratio).long()
    num_neg = torch.minimum(num_neg, (~positive).sum(1, keepdim=True))
    order = neg_loss.argsort(dim=1, descending=True)
    rank = order.argsort(dim=1)
    return rank < num_neg


def multibox_loss(cls_logits: Tensor, box_deltas: Tensor, labels: Tensor,
                  box_targets: Tensor, positive: Tensor,
                  neg_pos_ratio: float = 3.0, smooth_l1_beta: float = 1.0
                  ) -> Dict[str, Tensor]:
    """Classification and localisation losses of SSD.

    Args:
        cls_logits: Tensor[B, P, C + 1], background last.
        box_deltas: Tensor[B, P, 4], predicted encodings.
        labels: LongTensor[B, P], ``C`` for background.
        box_targets: Tensor[B, P, 4], encoded matched ground truths.
        positive: BoolTensor[B, P].

    Returns:
        ``loss_cls`` and ``loss_bbox``, scalars.
    """
    num_pos = positive.sum().clamp(min=1).float()
    ce = F.cross_entropy(cls_logits.flatten(0, 1).float(), labels.flatten(),
                         reduction='none').view_as(labels)
    keep = positive | hard_negative_mask(ce, positive, neg_pos_ratio)
    loss_cls = torch.where(keep, ce, 0.0).sum() / num_pos
    l1 = F.smooth_l1_loss(box_deltas.float(), box_targets.float(),
                          beta=smooth_l1_beta, reduction='none').sum(-1)
    loss_bbox = torch.where(positive, l1, 0.0).sum() / num_pos
    return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)
