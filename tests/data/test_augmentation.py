"""SSD's augmentation equals MMDetection's five transforms, seed for seed."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

import ssd_ext  # noqa: F401  (registers modules)
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

MEAN = [123.675, 116.28, 103.53]


def _image(low: int = 0, high: int = 256, shape=(240, 320)) -> np.ndarray:
    """Smooth random image: blocks upsampled, so resampling errors stay small."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(low, high, (shape[0] // 10, shape[1] // 10, 3), dtype=np.uint8)
    return cv2.resize(coarse, shape[::-1])


def _sample(img: np.ndarray, num_boxes: int = 6) -> dict:
    rng = np.random.default_rng(1)
    h, w = img.shape[:2]
    xy = rng.uniform(0, 0.6, (num_boxes, 2)) * (w, h)
    wh = rng.uniform(0.05, 0.4, (num_boxes, 2)) * (w, h)
    boxes = np.hstack([xy, xy + wh]).astype(np.float32)
    return dict(img=img.copy(), img_shape=(h, w),
                gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes)),
                gt_bboxes_labels=np.arange(num_boxes),
                gt_ignore_flags=np.arange(num_boxes) % 2 == 0)


@pytest.mark.parametrize('expand', [True, False])
def test_geometry_draws_as_mmdetection(expand):
    """Same seed: same expansion, crop, flip, so identical boxes and labels; the
    single warp renders the image within interpolation rounding."""
    expand_cfg = dict(mean=MEAN, to_rgb=True, ratio_range=(1, 4), prob=0.5)
    reference = Compose([
        *([dict(type='Expand', **expand_cfg)] if expand else []),
        dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
        dict(type='Resize', scale=(300, 300), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5)])
    ours = TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(300, 300),
                                 expand=expand_cfg if expand else None))
    img = _image()
    flips, crops = 0, 0
    for seed in range(60):
        np.random.seed(seed)
        ref = reference(_sample(img))
        np.random.seed(seed)
        out = ours(_sample(img))
        assert isinstance(out['gt_bboxes'], HorizontalBoxes)
        np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                                   ref['gt_bboxes'].tensor.numpy(), atol=1e-3)
        np.testing.assert_array_equal(out['gt_bboxes_labels'], ref['gt_bboxes_labels'])
        np.testing.assert_array_equal(out['gt_ignore_flags'], ref['gt_ignore_flags'])
        assert out['flip'] == ref['flip']
        assert out['img_shape'] == ref['img_shape'] == (300, 300)
        np.testing.assert_allclose(out['scale_factor'], ref['scale_factor'])
        assert out['img'].dtype == np.uint8
        diff = np.abs(out['img'].astype(np.int16) - ref['img'].astype(np.int16))
        assert diff.mean() < 1.0, seed
        assert np.percentile(diff, 99) <= 2, seed
        flips += out['flip']
        crops += len(out['gt_bboxes_labels']) < 6
    # the draws actually exercised both branches
    assert 0 < flips < 60 and crops > 0


def test_crop_tries_read_ahead_leave_the_generator_where_mmdetection_does():
    """Small boxes fail the high IoUs, so most crops take many tries and several
    modes: seed for seed the same patch, boxes and flip, and the next draw after
    the transform is the same number."""
    reference = Compose([
        dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
        dict(type='Resize', scale=(300, 300), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5)])
    ours = TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(300, 300)))
    img = _image(shape=(480, 640))
    rng = np.random.default_rng(2)
    for seed in range(200):
        num = int(rng.integers(0, 25))
        xy = rng.uniform(0, 0.9, (num, 2)) * (640, 480)
        boxes = np.hstack([xy, xy + rng.uniform(4, 60, (num, 2))]).astype(np.float32)

        def sample():  # MMDetection's transforms move the boxes in place
            return dict(img=img, img_shape=(480, 640),
                        gt_bboxes=HorizontalBoxes(torch.from_numpy(boxes.copy())),
                        gt_bboxes_labels=np.arange(num), gt_ignore_flags=np.zeros(num, bool))
        np.random.seed(seed)
        ref = reference(sample())
        ref_next = np.random.random_sample()
        np.random.seed(seed)
        out = ours(sample())
        assert np.random.random_sample() == ref_next, seed
        np.testing.assert_array_equal(out['gt_bboxes_labels'], ref['gt_bboxes_labels'])
        np.testing.assert_allclose(out['gt_bboxes'].tensor.numpy(),
                                   ref['gt_bboxes'].tensor.numpy(), atol=1e-3)
        assert out['flip'] == ref['flip']


def test_photometric_equals_mmdetection():
    """Same seed, same distortions and the same float32 arithmetic."""
    reference = TRANSFORMS.build(dict(type='PhotoMetricDistortion'))
    ours = TRANSFORMS.build(dict(type='SSDPhotometricDistortion'))
    img = _image()
    changed = 0
    for seed in range(100):
        np.random.seed(seed)
        ref = reference(dict(img=img.copy()))['img']
        np.random.seed(seed)
        out = ours(dict(img=img.copy()))['img']
        assert out.dtype == np.float32 and out.shape == img.shape
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-3, err_msg=str(seed))
        changed += not np.array_equal(out, img)
    assert changed > 90


def test_photometric_only_touches_the_image_region():
    ours = TRANSFORMS.build(dict(type='SSDPhotometricDistortion'))
    img = np.full((20, 30, 3), 100, np.uint8)
    img[5:15, 10:20] = (30, 80, 200)
    for seed in range(20):
        np.random.seed(seed)
        out = ours(dict(img=img.copy(), ssd_image_region=(10, 5, 20, 15)))['img']
        mask = np.ones((20, 30), bool)
        mask[5:15, 10:20] = False
        assert (out[mask] == 100).all()


def test_geometry_without_boxes_and_with_arrays():
    ours = TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(64, 48),
                                 expand=dict(mean=MEAN, prob=1.0)))
    np.random.seed(0)
    out = ours(dict(img=_image(), gt_bboxes=np.zeros((0, 4), np.float32),
                    gt_bboxes_labels=np.zeros(0, np.int64)))
    assert out['img'].shape == (48, 64, 3)
    assert isinstance(out['gt_bboxes'], np.ndarray) and out['gt_bboxes'].shape == (0, 4)
    box = np.array([[10., 20., 200., 220.]], np.float32)
    for seed in range(20):
        np.random.seed(seed)
        out = ours(dict(img=_image(), gt_bboxes=box.copy()))
        x1, y1, x2, y2 = out['gt_bboxes'][0]
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 48


def test_geometry_rejects_bad_arguments():
    with pytest.raises(KeyError, match='ratio'):
        TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(300, 300),
                              expand=dict(ratio=(1, 4))))
    with pytest.raises(ValueError, match='ratio_range'):
        TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(300, 300),
                              expand=dict(ratio_range=(0.5, 4))))
    with pytest.raises(ValueError, match='min_crop_size'):
        TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(300, 300), min_crop_size=0))


def test_crop_of_only_expansion_fill_is_left_undistorted():
    """Without boxes a crop may hold nothing of the image: no region to distort."""
    geometry = TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(32, 32),
                                     expand=dict(mean=MEAN, prob=1.0, ratio_range=(4, 4))))
    distort = TRANSFORMS.build(dict(type='SSDPhotometricDistortion'))
    empty = 0
    for seed in range(200):
        np.random.seed(seed)
        out = geometry(dict(img=np.full((20, 20, 3), 7, np.uint8),
                            gt_bboxes=np.zeros((0, 4), np.float32)))
        x1, y1, x2, y2 = out['ssd_image_region']
        if x2 <= x1 or y2 <= y1:
            empty += 1
            img = distort(out)['img']
            assert img.dtype == np.float32
            assert (img == np.array([104, 116, 124], np.float32)).all()
    assert empty > 0


def test_geometry_refuses_masks():
    geometry = TRANSFORMS.build(dict(type='SSDRandomGeometry', size=(32, 32)))
    with pytest.raises(NotImplementedError, match='gt_masks'):
        geometry(dict(img=np.zeros((8, 8, 3), np.uint8), gt_masks=object(),
                      img_path='x.jpg'))
