import pytest
import torch
from mmengine.structures import InstanceData

from ssd_ext.models.box_head.box_coder import BoxCoder
from ssd_ext.models.box_head.matcher import match_priors, pairwise_iou
from ssd_ext.models.box_head.multibox_head import MultiBoxHead
from ssd_ext.models.box_head.multibox_loss import (hard_negative_mask, multibox_loss,
                                                   prior_cross_entropy)
from ssd_ext.registry import MODELS


def test_encode_decode_round_trip_and_paper_encoding():
    coder = BoxCoder((0.1, 0.1, 0.2, 0.2))
    priors = torch.tensor([[10., 10., 30., 50.], [0., 0., 100., 100.]])
    boxes = torch.tensor([[12., 8., 36., 44.], [20., 30., 60., 90.]])
    deltas = coder.encode(boxes, priors)
    # Box 0: centre (24, 26) vs prior (20, 30), size (24, 36) vs (20, 40).
    expected0 = torch.tensor([4 / 20 / 0.1, -4 / 40 / 0.1,
                              torch.log(torch.tensor(24 / 20)) / 0.2,
                              torch.log(torch.tensor(36 / 40)) / 0.2])
    torch.testing.assert_close(deltas[0], expected0)
    torch.testing.assert_close(coder.decode(deltas, priors), boxes)


def test_decode_clips_to_image_shape():
    coder = BoxCoder()
    priors = torch.tensor([[-10., -10., 50., 50.]])
    out = coder.decode(torch.zeros(1, 4), priors, max_shape=torch.tensor([[40., 30.]]))
    torch.testing.assert_close(out, torch.tensor([[0., 0., 30., 40.]]))


def test_matching_threshold_and_forced_best_prior():
    priors = torch.tensor([[0., 0., 10., 10.], [0., 0., 20., 20.],
                           [50., 50., 60., 60.], [100., 100., 200., 200.]])
    # gt 0 overlaps prior 1 exactly; gt 1 is tiny: best IoU 0.04 < 0.5 with prior 2.
    gts = torch.tensor([[[0., 0., 20., 20.], [52., 52., 54., 54.]]])
    valid = torch.tensor([[True, True]])
    matched, positive = match_priors(gts, valid, priors, 0.5)
    assert positive.tolist() == [[False, True, True, False]]
    assert matched[0, 1].item() == 0 and matched[0, 2].item() == 1


def test_forced_match_later_gt_wins_and_padding_ignored():
    priors = torch.tensor([[0., 0., 10., 10.], [100., 100., 110., 110.]])
    gts = torch.tensor([[[0., 0., 9., 9.], [1., 1., 10., 10.], [0., 0., 10., 10.]]])
    valid = torch.tensor([[True, True, False]])  # gt 2 is padding
    matched, positive = match_priors(gts, valid, priors, 0.5)
    assert positive.tolist() == [[True, False]]
    assert matched[0, 0].item() == 1


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


def small_head(num_classes=3, **kwargs):
    return MultiBoxHead(
        num_classes=num_classes, in_channels=(8, 8), **kwargs,
        prior_generator=dict(type='PriorBoxGenerator', ratios=[[2], [2]],
                             strides=[8, 16], input_size=32,
                             min_sizes=[8, 16], max_sizes=[16, 32]))


def test_images_without_boxes_train_without_nan():
    head = small_head()
    feats = [torch.randn(2, 8, 4, 4, requires_grad=True),
             torch.randn(2, 8, 2, 2, requires_grad=True)]
    gts = [InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)),
           InstanceData(bboxes=torch.tensor([[4., 4., 20., 20.]]),
                        labels=torch.tensor([1]))]
    losses = head.loss_by_feat(*head(feats), gts)
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and total > 0
    assert all(torch.isfinite(f.grad).all() for f in feats)
    # A batch with no boxes at all: zero loss, still no NaN.
    empty = [gts[0], gts[0]]
    losses = head.loss_by_feat(*head(feats), empty)
    assert all(v.item() == 0 for v in losses.values())
    # With min_neg_per_image, such images train as background (negatives only).
    head.train_cfg.min_neg_per_image = 5
    losses = head.loss_by_feat(*head(feats), empty)
    assert losses['loss_cls'] > 0 and losses['loss_bbox'] == 0
    assert torch.isfinite(losses['loss_cls'])


def test_zero_area_boxes_never_match():
    head = small_head()
    priors = head.prior_generator.grid_priors([(4, 4), (2, 2)])
    gts = [InstanceData(bboxes=torch.tensor([[4., 4., 4., 20.]]), labels=torch.tensor([1]))]
    labels, targets, positive = head.targets(priors, gts)
    assert not positive.any() and (labels == 3).all() and torch.isfinite(targets).all()


def random_maps(head, batch=2):
    """The head's outputs for random features of its two levels (4x4 and 2x2)."""
    torch.manual_seed(0)
    return head([torch.randn(batch, 8, 4, 4), torch.randn(batch, 8, 2, 2)])


def test_predict_rescales_and_caps_detections():
    head = small_head(num_classes=2)
    head.test_cfg.max_per_img = 3
    maps = random_maps(head)
    metas = [dict(img_shape=(32, 32), scale_factor=(0.5, 0.25))] * 2
    rescaled = head.predict_by_feat(*maps, metas, rescale=True)
    network = head.predict_by_feat(*maps, metas, rescale=False)
    assert len(rescaled) == 2
    for res, net in zip(rescaled, network):
        assert len(res) == 3 and (res.scores[:-1] >= res.scores[1:]).all()
        assert (net.bboxes >= 0).all() and (net.bboxes <= 32).all()  # clipped
        torch.testing.assert_close(res.bboxes, net.bboxes / torch.tensor([0.5, 0.25] * 2))
        assert torch.equal(res.scores, net.scores) and torch.equal(res.labels, net.labels)


def test_no_ground_truths_match_no_prior():
    priors = torch.tensor([[0., 0., 10., 10.], [5., 5., 20., 20.], [0., 0., 30., 30.]])
    assert pairwise_iou(torch.zeros(1, 0, 4), priors).shape == (1, 0, 3)
    matched, positive = match_priors(torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.bool),
                                     priors)
    assert matched.shape == positive.shape == (2, 3) and not positive.any()


def test_background_prior_sets_initial_background_probability():
    head = small_head(num_classes=3, background_prior=0.99)
    head.init_weights()
    feats = [torch.zeros(1, 8, 4, 4), torch.zeros(1, 8, 2, 2)]
    logits, _ = head.flatten_outputs(*head(feats))
    probs = logits.softmax(-1)
    torch.testing.assert_close(probs[..., 3], torch.full(probs.shape[:2], 0.99))


def test_predict_with_nothing_above_threshold_returns_empty_results():
    head = small_head(num_classes=2)
    head.test_cfg.score_thr = 1.0
    metas = [dict(img_shape=(32, 32), scale_factor=(1.0, 1.0))] * 2
    results = head.predict_by_feat(*random_maps(head), metas, rescale=True)
    assert [len(r) for r in results] == [0, 0]
    assert results[0].bboxes.shape == (0, 4)


def test_unknown_cfg_keys_are_named_with_the_allowed_ones():
    head = dict(type='MultiBoxHead', num_classes=3, in_channels=(8, 8),
                prior_generator=dict(type='PriorBoxGenerator', input_size=64,
                                     strides=[8, 16], ratios=[[2], [2]],
                                     min_sizes=[10, 20], max_sizes=[20, 40]))
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(head, train_cfg=dict(bogus=1)))
    msg = str(info.value)
    assert "['bogus']" in msg and 'pos_iou_thr' in msg and 'neg_pos_ratio' in msg
    with pytest.raises(KeyError, match='nms_thr'):
        MODELS.build(dict(head, test_cfg=dict(nms_thr=0.5)))
    with pytest.raises(TypeError, match='num_classes must be an int'):
        MODELS.build(dict(head, num_classes='3'))
