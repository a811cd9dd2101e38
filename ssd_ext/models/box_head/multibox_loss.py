"""The MultiBox loss: smooth L1 on positives plus softmax cross-entropy with hard
negative mining, both divided by the number of positives in the batch.

Everything is batched: one sort per batch mines the hardest ``neg_pos_ratio``
negatives per positive in each image, and there is no host synchronisation (the
positive count stays on the device). The cross-entropy of every prior is read
straight off the head's per-level ``[B, A*(C+1), H, W]`` maps, so the
``[B, P, C+1]`` logits (90 MB for SSD300 at batch 32 on COCO) are never
permuted, copied and concatenated: that copy and a full ``log_softmax`` were
most of the loss's time.
"""
from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


def hard_negative_mask(ce: Tensor, positive: Tensor, neg_pos_ratio: float,
                       min_negatives: int = 0) -> Tensor:
    """BoolTensor[B, P] of the hardest negatives: per image, the
    ``max(neg_pos_ratio * num_pos, min_negatives)`` non-positive priors of
    largest loss ``ce`` [B, P]."""
    neg_loss = ce.detach().masked_fill(positive, -1.0)
    num_neg = (positive.sum(1, keepdim=True) * neg_pos_ratio).long().clamp(min=min_negatives)
    num_neg = torch.minimum(num_neg, (~positive).sum(1, keepdim=True))
    # One sort; the first num_neg places of each row are scattered back.
    order = neg_loss.argsort(dim=1, descending=True)
    chosen = torch.arange(ce.shape[1], device=ce.device) < num_neg
    return torch.zeros_like(positive).scatter_(1, order, chosen)


def prior_cross_entropy(cls_scores: Sequence[Tensor], labels: Tensor,
                        num_logits: int) -> Tensor:
    """Softmax cross-entropy of every prior, in fp32.

    Args:
        cls_scores: Per level Tensor[B, A * L, H, W]; channel ``a * L + c``
            is logit ``c`` of the cell's prior ``a``. ``num_logits`` L is
            C + 1 (the classes, then background) plus any logits after the
            background that are no class (``MultiBoxHead.unused_logits``).
        labels: LongTensor[B, P], priors ordered level, row, column, prior;
            C is background.

    Returns:
        Tensor[B, P]: ``-log_softmax(logits)[label]``.
    """
    losses, start = [], 0
    num_images = labels.shape[0]
    for scores in cls_scores:
        height, width = scores.shape[-2:]
        logits = scores.float().view(num_images, -1, num_logits, height * width)
        num = logits.shape[1] * height * width
        level_labels = labels[:, start:start + num].view(num_images, height * width, -1)
        # One fused log_softmax pass over the class axis beats logsumexp's
        # separate max, subtract, exp and sum passes.
        log_probs = torch.log_softmax(logits, dim=2)
        ce = -log_probs.gather(2, level_labels.transpose(1, 2).unsqueeze(2)).squeeze(2)
        losses.append(ce.transpose(1, 2).reshape(num_images, num))
        start += num
    return torch.cat(losses, 1)


def multibox_loss(ce: Tensor, box_deltas: Tensor, box_targets: Tensor,
                  positive: Tensor, neg_pos_ratio: float = 3.0,
                  smooth_l1_beta: float = 1.0, min_negatives: int = 0
                  ) -> Dict[str, Tensor]:
    """Classification and localisation losses of SSD.

    Args:
        ce: Tensor[B, P], each prior's cross-entropy against its label
            (:func:`prior_cross_entropy`).
        box_deltas: Tensor[B, P, 4], predicted encodings.
        box_targets: Tensor[B, P, 4], encoded matched ground truths.
        positive: BoolTensor[B, P].
        min_negatives: Hard negatives mined per image even without positives
            (0, the paper's rule, gives an image without boxes no loss).

    Returns:
        ``loss_cls`` and ``loss_bbox``, scalars.
    """
    num_pos = positive.sum().clamp(min=1).float()
    keep = positive | hard_negative_mask(ce, positive, neg_pos_ratio, min_negatives)
    loss_cls = torch.where(keep, ce, 0.0).sum() / num_pos
    l1 = F.smooth_l1_loss(box_deltas.float(), box_targets.float(),
                          beta=smooth_l1_beta, reduction='none').sum(-1)
    loss_bbox = torch.where(positive, l1, 0.0).sum() / num_pos
    return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)
