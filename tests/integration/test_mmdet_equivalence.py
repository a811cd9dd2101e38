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

import math
from pathlib import Path

import mmcv
import pytest
import torch
from conftest import REPO_ROOT, load_script
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from ssd_ext.data.voc_to_coco import parse_voc_xml
from ssd_ext.models.weight_conversion import mmdet_ssd_to_ssd_ext
from ssd_ext.structures.box_iou import box_iou

# The benchmark tools' reference builder (tools/ is no package).
mmdet_reference = load_script(REPO_ROOT / 'tools' / 'analysis' / 'mmdet_reference.py')

# Random VGG weights saturate the softmax; scaled down, class scores spread
# between the score threshold and 1, so thresholding and NMS have work to do.
CLS_WEIGHT_SCALE = 0.1
CONFIGS = {300: 'configs/ssd300.py', 512: 'configs/ssd512.py'}


def build_pair(size, repo_root, num_classes=80):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    ref = mmdet_reference.build_mmdet_ssd(size, num_classes)
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(repo_root / CONFIGS[size]))
    cfg.model.bbox_head.num_classes = num_classes
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
    top2 = box_iou(boxes, priors).topk(2, dim=1).values
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


BCCD_CLASSES = ('RBC', 'WBC', 'Platelets')


def bccd_batches(bccd: Path, priors, mean, batches: int, batch_size: int, size: int = 300):
    """Real BCCD images and boxes, resized to ``size`` as the test pipeline does
    and normalised as the data preprocessor does (RGB minus the mean), float64:
    [(inputs [B, 3, size, size], data samples)]."""
    ids = (bccd / 'ImageSets' / 'Main' / 'trainval.txt').read_text().split()
    out = []
    for b in range(batches):
        images, data_samples = [], []
        for image_id in ids[b * batch_size:(b + 1) * batch_size]:
            bgr = mmcv.imread(str(bccd / 'JPEGImages' / f'{image_id}.jpg'))
            h, w = bgr.shape[:2]
            rgb = torch.from_numpy(mmcv.imresize(bgr, (size, size))[..., ::-1].copy())
            images.append(rgb.permute(2, 0, 1).double()
                          - torch.tensor(mean, dtype=torch.float64).view(3, 1, 1))
            objects = parse_voc_xml(str(bccd / 'Annotations' / f'{image_id}.xml'))
            scale = torch.tensor([size / w, size / h] * 2)
            boxes = (torch.tensor([o.box for o in objects]) - torch.tensor([1., 1, 0, 0])) * scale
            labels = torch.tensor([BCCD_CLASSES.index(o.name) for o in objects])
            keep = untied(boxes, priors)
            ds = DetDataSample(metainfo=dict(
                img_shape=(size, size), ori_shape=(h, w), pad_shape=(size, size),
                scale_factor=(size / w, size / h), batch_input_shape=(size, size)))
            ds.gt_instances = InstanceData(bboxes=boxes[keep], labels=labels[keep])
            data_samples.append(ds)
        out.append((torch.stack(images), data_samples))
    return out


def test_same_sgd_steps_on_real_bccd_batches(repo_root, shared_data):
    """Six SGD steps (momentum 0.9, weight decay 5e-4, each model's own config's
    optimizer at a small lr: the paper's diverges from random init) from the
    same weights on the same real BCCD batches: the losses of every step and
    the final weights agree. In float64, so rounding drift (about 1e-4 after
    six float32 steps) does not hide a real difference."""
    from mmengine.optim import build_optim_wrapper
    steps, lr = 6, 1e-4
    ref, ours = build_pair(300, repo_root, num_classes=len(BCCD_CLASSES))
    ref.double().train(), ours.double().train()
    priors = torch.cat(ref.bbox_head.prior_generator.grid_priors(
        [f.shape[-2:] for f in ours.extract_feat(torch.zeros(1, 3, 300, 300,
                                                             dtype=torch.float64))],
        device='cpu'))
    ours_cfg = Config.fromfile(str(repo_root / CONFIGS[300]))
    batches = bccd_batches(shared_data / 'bccd', priors, ours_cfg.model.data_preprocessor.mean,
                           steps, batch_size=2)
    assert all(len(ds.gt_instances) >= 5 for _, samples in batches for ds in samples)

    wrappers = []
    for model, cfg in ((ref, mmdet_reference.mmdet_ssd_config(300)),
                       (ours, ours_cfg)):
        cfg.optim_wrapper.optimizer.lr = lr
        wrappers.append(build_optim_wrapper(model, cfg.optim_wrapper))
    for name, wrapper in zip(('mmdet', 'ssd_ext'), wrappers):
        group = wrapper.optimizer.param_groups[0]
        assert (group['momentum'], group['weight_decay']) == (0.9, 5e-4), name

    start = {k: v.clone() for k, v in ours.state_dict().items()}
    losses = {'mmdet': [], 'ssd_ext': []}
    for inputs, data_samples in batches:
        for name, model, wrapper in (('mmdet', ref, wrappers[0]), ('ssd_ext', ours, wrappers[1])):
            loss, _ = model.parse_losses(model.loss(inputs, data_samples))
            wrapper.update_params(loss)
            losses[name].append(loss.item())
    assert all(math.isfinite(v) for v in losses['mmdet'])
    assert losses['ssd_ext'][-1] < losses['ssd_ext'][0]  # it trains
    torch.testing.assert_close(torch.tensor(losses['ssd_ext']), torch.tensor(losses['mmdet']),
                               rtol=1e-6, atol=0)
    ref_state = mmdet_ssd_to_ssd_ext(ref.state_dict())
    still = []
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, ref_state[key], rtol=1e-6, atol=1e-9, msg=key)
        if torch.equal(value, start[key]):
            still.append(key)
    # Only the regression biases of levels no BCCD box was matched at stay put.
    assert all(k.startswith('bbox_head.reg_convs.') and k.endswith('.bias')
                         for k in still), still
