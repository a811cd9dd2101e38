"""``ssd_ext/deployment/exportable.py``: the fixed-shape wrapper, run eagerly,
finds the detections of the head's own ``predict`` (it shares its decoding)."""
import pytest
import torch

from ssd_ext.deployment import ExportableSSD, load_inputs
from ssd_testkit.onnx_fixtures import random_detector, shapes_dir  # noqa: F401 (fixture)


def test_eager_wrapper_matches_predict(repo_root, shapes_dir):  # noqa: F811
    model = random_detector(repo_root)
    files = [str(f) for f in sorted((shapes_dir / 'val').glob('*.png'))]
    data, _ = load_inputs(model, files)
    wrapper = ExportableSSD(model, (160, 160)).eval()
    with torch.no_grad():
        dets, labels = wrapper(data['inputs'])
        samples = model.predict(data['inputs'], data['data_samples'], rescale=False)
    max_per_img = model.bbox_head.test_cfg.max_per_img
    assert dets.shape == (len(files), max_per_img, 5) and labels.dtype == torch.int64
    for d, lab, sample in zip(dets, labels, samples):
        pred = sample.pred_instances
        n = len(pred)
        assert n > 0 and (lab[:n] >= 0).all() and (lab[n:] == -1).all()
        assert (d[n:] == 0).all()
        assert lab[:n].tolist() == pred.labels.tolist()
        torch.testing.assert_close(d[:n, 4], pred.scores, rtol=0, atol=1e-6)
        torch.testing.assert_close(d[:n, :4], pred.bboxes, rtol=0, atol=1e-4)


@pytest.mark.parametrize('nms', [dict(type='soft_nms', iou_threshold=0.45),
                                 dict(type='nms', iou_threshold=0.45, class_agnostic=True),
                                 dict(type='nms', iou_threshold=0.45, max_num=100),
                                 dict(type='nms', iou_threshold=0.45, score_threshold=0.1)])
def test_rejects_nms_it_cannot_export(repo_root, nms):
    model = random_detector(repo_root)
    model.bbox_head.test_cfg.nms = nms
    with pytest.raises(ValueError, match='only per-class hard NMS'):
        ExportableSSD(model, (160, 160))


def test_rejects_an_nms_offset(repo_root):
    model = random_detector(repo_root)
    model.bbox_head.test_cfg.nms = dict(type='nms', iou_threshold=0.45, offset=1)
    with pytest.raises(ValueError, match='offset=1 cannot be exported'):
        ExportableSSD(model, (160, 160))


@pytest.mark.parametrize('per', ['level', 'class'])
def test_rejects_top_k_per_level_or_class(repo_root, per):
    """The zoo's MMDetection and torchvision configs rank candidates per level
    or class; the export ranks them per image, so it refuses rather than
    exporting other detections."""
    model = random_detector(repo_root)
    model.bbox_head.test_cfg.nms_pre_per = per
    with pytest.raises(ValueError, match=f"nms_pre_per='{per}' cannot be exported"):
        ExportableSSD(model, (160, 160))


def test_float_labels_are_exact_up_to_two_to_the_24(repo_root):
    """Labels travel as float32 (no integer arithmetic an engine could run in
    float kernels); every class of every (prior, class) index comes out exact."""
    from ssd_ext.deployment.exportable import float_class_of
    num_classes, num_priors = 81, 24564  # SSD512 on COCO with background
    pairs = torch.arange(num_priors * num_classes)
    labels = float_class_of(pairs[None], num_classes, num_priors)[0]
    assert torch.equal(labels.long(), pairs % num_classes)
    with pytest.raises(ValueError, match='exceed the 2\\*\\*24'):
        float_class_of(pairs[None], 1000, 2 ** 24 // 1000 + 1)
