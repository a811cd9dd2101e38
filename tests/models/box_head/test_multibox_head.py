"""``ssd_ext/models/box_head/multibox_head.py``: training targets and losses of
awkward batches, prediction, initialisation and config checks."""
import pytest
import torch
from mmengine.structures import InstanceData

from ssd_ext.models.box_head.multibox_head import MultiBoxHead
from ssd_ext.registry import MODELS


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
