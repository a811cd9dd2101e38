"""``ssd_ext/models/box_head/multibox_loss.py``: hard negative mining, the
per-prior cross entropy and the loss's normalisation."""
import torch

from ssd_ext.models.box_head.multibox_head import MultiBoxHead
from ssd_ext.models.box_head.multibox_loss import (hard_negative_mask, multibox_loss,
                                                   prior_cross_entropy)


def test_hard_negative_mining_picks_hardest_three_per_positive():
    ce = torch.tensor([[5., 0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.4],
                       [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]])
    positive = torch.zeros(2, 8, dtype=torch.bool)
    positive[0, 0] = True  # one positive -> 3 negatives: 0.9, 0.8, 0.7
    mask = hard_negative_mask(ce, positive, 3.0)
    assert mask[0].nonzero().flatten().tolist() == [2, 4, 6]
    assert not mask[1].any()  # no positives -> no negatives
    mask = hard_negative_mask(ce, positive, 3.0, min_negatives=2)
    assert mask[1].nonzero().flatten().tolist() == [6, 7]


def test_prior_cross_entropy_matches_flattened_cross_entropy():
    torch.manual_seed(0)
    num_classes, anchors = 4, (2, 3)
    maps = [torch.randn(2, a * (num_classes + 1), h, h) for a, h in zip(anchors, (4, 2))]
    flat = MultiBoxHead.flatten_levels(maps, num_classes + 1)
    labels = torch.randint(0, num_classes + 1, flat.shape[:2])
    expected = torch.nn.functional.cross_entropy(
        flat.flatten(0, 1), labels.flatten(), reduction='none').view_as(labels)
    torch.testing.assert_close(prior_cross_entropy(maps, labels, num_classes + 1), expected)


def test_loss_is_normalised_by_positives():
    logits = torch.zeros(1, 4 * 3, 1, 1)  # 4 priors in one cell, 2 classes + bg
    labels = torch.tensor([[0, 2, 2, 2]])  # class 0 positive, 2 = background
    positive = labels != 2
    targets = torch.zeros(1, 4, 4)
    deltas = torch.zeros(1, 4, 4)
    deltas[0, 0] = torch.tensor([1., 0., 0., 3.])
    ce = prior_cross_entropy([logits], labels, num_logits=3)
    losses = multibox_loss(ce, deltas, targets, positive)
    # CE of uniform logits is log 3 for the positive and all 3 mined negatives.
    torch.testing.assert_close(losses['loss_cls'], torch.log(torch.tensor(3.)) * 4)
    torch.testing.assert_close(losses['loss_bbox'], torch.tensor(0.5 + 2.5))
