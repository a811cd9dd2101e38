"""``ssd_ext/structures/box_iou.py``: the one IoU, the same for each caller's
array kind: the matcher's batched float32 tensors, the float32 arrays of the
crop augmentation and the deployment's agreement, the shapes dataset's float64
arrays of integer corners."""
import numpy as np
import torch

from ssd_ext.structures.box_iou import box_iou

BOX = [0, 0, 10, 10]
# (box, its IoU with BOX)
CASES = [
    ([0, 0, 10, 10], 1.0),  # the same box
    ([5, 0, 15, 10], 50 / 150),  # half of it
    ([2, 2, 7, 7], 25 / 100),  # inside it
    ([10, 0, 20, 10], 0.0),  # touching along an edge
    ([10, 10, 20, 20], 0.0),  # touching at a corner
    ([20, 20, 30, 30], 0.0),  # apart
    ([5, 0, 5, 10], 0.0),  # zero width, inside it
    ([5, 5, 5, 5], 0.0),  # a point inside it
]
OTHERS = [box for box, _ in CASES]
EXPECTED = [[iou for _, iou in CASES]]


def test_values_on_edge_cases():
    for dtype in (np.float32, np.float64):
        got = box_iou(np.array([BOX], dtype), np.array(OTHERS, dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, EXPECTED, rtol=1e-6)


def test_two_empty_boxes_have_iou_zero():
    for point in ([[5, 5, 5, 5]], [[3, 0, 3, 10]]):
        assert box_iou(np.array(point, np.float32), np.array(point, np.float32)).tolist() == [[0]]
        assert box_iou(torch.tensor(point, dtype=torch.float32)[None],
                       torch.tensor(point, dtype=torch.float32)).tolist() == [[[0]]]


def test_no_boxes():
    some = np.array(OTHERS[:3], np.float32)
    assert box_iou(np.zeros((0, 4), np.float32), some).shape == (0, 3)
    assert box_iou(some, np.zeros((0, 4), np.float32)).shape == (3, 0)
    assert box_iou(torch.zeros(2, 0, 4), torch.from_numpy(some)).shape == (2, 0, 3)


def test_callers_array_kinds_agree():
    """The matcher's call (tensors [B, G, 4] with [P, 4]) gives, image by image,
    the float32 arrays' values bit for bit; float64 differs only by rounding."""
    rng = np.random.default_rng(0)
    xy = rng.integers(0, 40, (2, 6, 2))
    wh = rng.integers(0, 20, (2, 6, 2))  # zero-area boxes among them
    gts = np.concatenate([xy, xy + wh], -1).astype(np.float32)
    gts[0, :2] = [BOX, OTHERS[3]]  # touching
    priors = np.array(OTHERS, np.float32)
    batched = box_iou(torch.from_numpy(gts), torch.from_numpy(priors))
    assert batched.shape == (2, 6, len(OTHERS))
    for image in range(2):
        per_image = box_iou(gts[image], priors)
        assert np.array_equal(batched[image].numpy(), per_image)
        np.testing.assert_allclose(box_iou(gts[image].astype(np.float64),
                                           priors.astype(np.float64)), per_image, rtol=1e-6)
    assert batched[0, 0].tolist() == torch.tensor(EXPECTED[0], dtype=torch.float32).tolist()
    assert batched[0, 1, 0] == 0  # touching
