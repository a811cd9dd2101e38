"""ssd_ext against MMDetection's builtin SSD300/SSD512 with the same weights.

Differences on purpose, neutralised here so the rest can be compared exactly:
- MMDetection truncates the Caffe prior sizes to integers (51.2 -> 51 at 512);
  ours keeps them exact, so our generator gets MMDetection's sizes explicitly.
- MMDetection keeps ``nms_pre`` candidates per level, ours per image; both are
  given a cap above the candidate count.
- A ground truth whose best prior is tied (e.g. priors of ratio 2 and 1/2 for a
  square box) is forced onto whichever float rounding favours; such boxes are
  left out of the loss comparison, since either choice is correct.
"""

import pytest
import torch
from conftest import REPO_ROOT, load_script
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from ssd_ext.models.box_head.matcher import pairwise_iou
from ssd_ext.models.weight_conversion import mmdet_ssd_to_ssd_ext

# The benchmark tools' reference builder (tools/ is no package).
mmdet_reference = load_script(REPO_ROOT / 'tools' / 'analysis' / 'mmdet_reference.py')

# Random VGG weights saturate the softmax; scaled down, class scores spread
# between the score threshold and 1, so thresholding and NMS have work to do.
CLS_WEIGHT_SCALE = 0.1
CONFIGS = {300: 'configs/ssd300.py', 512: 'configs/ssd512.py'}


def build_pair(size, repo_root):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    ref = mmdet_reference.build_mmdet_ssd(size)
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(repo_root / CONFIGS[size]))
    min_sizes, max_sizes = mmdet_reference.mmdet_prior_sizes(ref)
    gen = cfg.model.bbox_head.prior_generator
    gen.update(min_sizes=min_sizes, max_sizes=max_sizes, scale_range=None)
    ours = MODELS.build(cfg.model)
    with torch.no_grad():
        for conv in ref.bbox_head.cls_convs:
            conv[0].weight.mul_(CLS_WEIGHT_SCALE)
    ours.load_state_dict(mmdet_ssd_to_ssd_ext(ref.state_dict()), strict=True)  # raises on a gap
    for model in (ref, ours):
        model.bbox_head.test_cfg.nms_pre = 10 ** 7
    return ref, ours


def untied(boxes, priors):
    """Mask of boxes whose best prior beats the runner-up by a clear margin."""
    top2 = pairwise_iou(boxes[None], priors)[0].topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1] > 1e-4


def samples(size, with_gt, priors=None):
    torch.manual_seed(1)
    out = []
    for i, shape in enumerate([(480, 640), (375, 500)]):
        ds = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=shape, pad_shape=(size, size),
            scale_factor=(size / shape[1], size / shape[0]), batch_input_shape=(size, size)))
        if with_gt:
            n = 6 + 4 * i
            xy = torch.rand(n, 2) * size * 0.7
            wh = torch.rand(n, 2) * size * 0.3 + 4
            boxes = torch.cat([xy, xy + wh], 1)
            labels = torch.randint(0, 80, (n,))
            keep = untied(boxes, priors)
            ds.gt_instances = InstanceData(bboxes=boxes[keep], labels=labels[keep])
        out.append(ds)
    return out


@pytest.mark.parametrize('size', [300, 512])
def test_same_detections(size, repo_root):
    ref, ours = build_pair(size, repo_root)
    ref.eval(), ours.eval()
    inputs = torch.rand(2, 3, size, size) * 255 - 120
    with torch.no_grad():
        expected = ref.predict(inputs, samples(size, False))
        got = ours.predict(inputs, samples(size, False))
    for e, g in zip(expected, got):
        e, g = e.pred_instances, g.pred_instances
        assert len(e) > 20 and len(e) == len(g)
        ke = torch.argsort(e.scores, descending=True, stable=True)
        kg = torch.argsort(g.scores, descending=True, stable=True)
        torch.testing.assert_close(g.scores[kg], e.scores[ke], rtol=1e-4, atol=1e-6)
        assert torch.equal(g.labels[kg], e.labels[ke])
        torch.testing.assert_close(g.bboxes[kg], e.bboxes[ke], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('size', [300, 512])
def test_same_losses(size, repo_root):
    ref, ours = build_pair(size, repo_root)
    ref.train(), ours.train()
    inputs = torch.rand(2, 3, size, size) * 255 - 120
    priors = torch.cat(ref.bbox_head.prior_generator.grid_priors(
        [f.shape[-2:] for f in ours.extract_feat(inputs)], device='cpu'))
    expected = ref.loss(inputs, samples(size, True, priors))
    got = ours.loss(inputs, samples(size, True, priors))
    assert all(len(s.gt_instances) >= 3 for s in samples(size, True, priors))
    for key in ('loss_cls', 'loss_bbox'):
        want = sum(expected[key]).reshape(())
        torch.testing.assert_close(got[key], want, rtol=1e-4, atol=0)
