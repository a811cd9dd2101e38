"""``ssd_ext/models/box_head/matcher.py``: which prior matches which ground truth."""
import torch

from ssd_ext.models.box_head.matcher import match_priors


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


def test_no_ground_truths_match_no_prior():
    priors = torch.tensor([[0., 0., 10., 10.], [5., 5., 20., 20.], [0., 0., 30., 30.]])
    matched, positive = match_priors(torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.bool),
                                     priors)
    assert matched.shape == positive.shape == (2, 3) and not positive.any()
