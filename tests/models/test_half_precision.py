"""fp16 traps of the AMP fast path: where half precision would overflow,
underflow or round boxes, ssd_ext computes in fp32.

Under CUDA AMP the network's maps arrive in fp16 (largest value 65504, spacing
0.5 at 512). L2Norm's sum of 512 squares, decoding against SSD512's priors,
rescaling by scale factors such as 512 / 427 and the loss's log-softmax must
not be computed at that precision.
"""
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from ssd_ext.models.necks.ssd_neck import L2Norm
from ssd_ext.registry import MODELS


@pytest.fixture(scope='module')
def ssd512_head(repo_root):
    cfg = Config.fromfile(str(repo_root / 'configs/ssd512.py'))
    head = MODELS.build(cfg.model.bbox_head)
    head.init_weights()
    return head


def half_exact_maps(head, batch: int, size: int = 512, scale: float = 4.0):
    """Class and box maps of SSD512's shapes whose values fp16 represents exactly,
    so fp16 and fp32 inputs carry the same numbers."""
    gen = torch.Generator().manual_seed(0)
    sizes = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    anchors = head.prior_generator.num_base_priors
    cls = [(torch.randn(batch, a * (head.num_classes + 1), h, w, generator=gen) * scale)
           .half().float() for a, (h, w) in zip(anchors, sizes)]
    reg = [torch.randn(batch, a * 4, h, w, generator=gen).half().float()
           for a, (h, w) in zip(anchors, sizes)]
    return cls, reg


@pytest.mark.parametrize('magnitude', [1e3, 1e-4])
def test_l2norm_of_half_maps_neither_overflows_nor_underflows(magnitude):
    # 512 squares of 1e3 sum to 5e8 (fp16 max 65504); squares of 1e-4 are below
    # fp16's smallest subnormal (6e-8).
    torch.manual_seed(0)
    x = (torch.rand(2, 512, 5, 5) + 0.5) * magnitude
    norm = L2Norm(512)
    out = norm(x.half())
    assert out.dtype == torch.float16
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), norm(x.half().float()), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('rescale', [False, True])
def test_half_maps_decode_to_the_same_detections_as_fp32(ssd512_head, rescale):
    cls, reg = half_exact_maps(ssd512_head, batch=2)
    # Scale factors of 640x427 and 500x375 images, which fp16 would round.
    metas = [dict(img_shape=(512, 512), scale_factor=(512 / 640, 512 / 427)),
             dict(img_shape=(512, 512), scale_factor=(512 / 500, 512 / 375))]
    full = ssd512_head.predict_by_feat(cls, reg, metas, rescale=rescale)
    half = ssd512_head.predict_by_feat([c.half() for c in cls], [r.half() for r in reg],
                                       metas, rescale=rescale)
    for f, h in zip(full, half):
        assert len(f) > 0 and h.bboxes.dtype == torch.float32
        torch.testing.assert_close(h.bboxes, f.bboxes, rtol=0, atol=0)
        torch.testing.assert_close(h.scores, f.scores, rtol=0, atol=0)
        assert torch.equal(h.labels, f.labels)


def test_loss_of_half_maps_is_the_fp32_loss(ssd512_head):
    # scale 12: logits up to ~60, whose exp overflows fp16 (e^11 > 65504).
    cls, reg = half_exact_maps(ssd512_head, batch=2, scale=12.0)
    gts = [InstanceData(bboxes=torch.tensor([[10., 20., 200., 300.], [300., 310., 330., 350.]]),
                        labels=torch.tensor([3, 70])),
           InstanceData(bboxes=torch.tensor([[0., 0., 512., 512.]]), labels=torch.tensor([0]))]
    full = ssd512_head.loss_by_feat(cls, reg, gts)
    with torch.autocast('cpu', dtype=torch.float16):
        half = ssd512_head.loss_by_feat([c.half() for c in cls], [r.half() for r in reg], gts)
    for key, value in full.items():
        assert half[key].dtype == torch.float32 and torch.isfinite(half[key]), key
        torch.testing.assert_close(half[key], value, rtol=1e-6, atol=0, msg=key)
