"""``ssd_ext/models/box_head/box_coder.py``: the paper's encoding and its inverse."""
import torch

from ssd_ext.models.box_head.box_coder import BoxCoder


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
