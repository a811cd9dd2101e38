"""ONNX export of a whole SSD detector: network, box decoding and per-class NMS.

:class:`ExportableSSD` wraps a built ``SingleStageDetector`` with a
:class:`~ssd_ext.models.MultiBoxHead` and reproduces
``MultiBoxHead.predict_by_feat`` with fixed-shape outputs, so one ONNX file runs
the whole detector for any batch size:

- ``dets``: float32 ``[B, K, 5]``, rows ``(x1, y1, x2, y2, score)`` sorted by
  score, in the pixels of the network input (``H x W``); ``K`` is the head's
  ``test_cfg.max_per_img``. Rows past the last detection are all zero.
- ``labels``: int64 ``[B, K]``, class indices, ``-1`` in padding rows.

Input ``images``: float32 ``[B, 3, H, W]``, already normalised like the
model's data preprocessor does it; with ``with_preprocess`` uint8
``[B, H, W, 3]`` images (BGR as OpenCV reads them, or RGB), already resized to
``H x W``; the cast, channel swap and mean/std normalisation run in the graph.
To get boxes in an original image, divide x by ``W / orig_w`` and y by
``H / orig_h`` (what ``rescale=True`` does in PyTorch).

Per-class NMS is ONNX's own ``NonMaxSuppression`` op (opset >= 11), emitted
with a custom ``torch.autograd.Function``'s ``symbolic`` through torch's
TorchScript exporter (``torch.onnx.export(..., dynamo=False)``); the dynamo
exporter needs ``onnxscript``, which this project does not depend on.
Differences from ``predict_by_feat``: ``min_bbox_size`` is checked in network
input pixels, not after rescaling (identical for the default 0).
"""
import copy
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_OPSET = 17
INPUT_NAMES = ['images']
OUTPUT_NAMES = ['dets', 'labels']


class NonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression``: ``boxes`` [B, N, 4] (corners), ``scores``
    [B, C, N]; returns int64 [S, 3] rows ``(batch, class, box)``, per batch and
    class in decreasing score order, at most ``max_output`` per class, only
    boxes with score above ``score_threshold``.

    Eager ``forward`` (used while tracing) runs mmcv's NMS per batch and class;
    the exported graph holds the ONNX op.
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_output: Tensor,
                iou_threshold: Tensor, score_threshold: Tensor) -> Tensor:
        from mmcv.ops import nms
        max_out = int(max_output)
        iou, thr = float(iou_threshold), float(score_threshold)
        rows = []
        for b in range(boxes.shape[0]):
            for c in range(scores.shape[1]):
                cand = (scores[b, c] > thr).nonzero().squeeze(1)
                if cand.numel() == 0:
                    continue
                _, keep = nms(boxes[b, cand], scores[b, c, cand], iou)
                keep = cand[keep[:max_out]]
                rows.append(torch.stack([torch.full_like(keep, b),
                                         torch.full_like(keep, c), keep], 1))
        if not rows:
            return boxes.new_zeros((0, 3), dtype=torch.long)
        return torch.cat(rows)

    @staticmethod
    def symbolic(g, boxes, scores, max_output, iou_threshold, score_threshold):
        return g.op('NonMaxSuppression', boxes, scores, max_output, iou_threshold,
                    score_threshold, center_point_box_i=0)


class ExportableSSD(nn.Module):
    """The detector with decoding and NMS as one traceable module (see the
    module docstring for inputs and outputs).

    Args:
        detector: A built ``SingleStageDetector`` with a ``MultiBoxHead``,
            in eval mode.
        input_size: ``(H, W)`` of the network input.
        with_preprocess: Take uint8 ``[B, H, W, 3]`` images and normalise
            them in the graph.
        channel_order: ``'bgr'`` or ``'rgb'``, that of the uint8 input.
    """

    def __init__(self, detector: nn.Module, input_size: Tuple[int, int],
                 with_preprocess: bool = False, channel_order: str = 'bgr') -> None:
        super().__init__()
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.detector = detector
        self.head = detector.bbox_head
        nms = dict(self.head.test_cfg.nms)
        if nms.get('type', 'nms') != 'nms' or nms.get('class_agnostic', False):
            raise ValueError(f'only per-class hard NMS can be exported, got test_cfg.nms={nms}')
        self.input_size = tuple(int(s) for s in input_size)
        self.with_preprocess = with_preprocess
        pre = detector.data_preprocessor
        # The data preprocessor swaps channels when its bgr_to_rgb/rgb_to_bgr
        # is set; it assumes the pipeline's (OpenCV, BGR) order as input.
        swap = bool(getattr(pre, '_channel_conversion', False))
        self.swap_channels = swap != (channel_order == 'rgb')
        if getattr(pre, '_enable_normalize', False):
            mean, std = pre.mean.detach().clone(), pre.std.detach().clone()
        else:
            mean, std = torch.zeros(3, 1, 1), torch.ones(3, 1, 1)
        self.register_buffer('mean', mean.reshape(1, -1, 1, 1).float(), persistent=False)
        self.register_buffer('std', std.reshape(1, -1, 1, 1).float(), persistent=False)

    def preprocess(self, images: Tensor) -> Tensor:
        x = images.permute(0, 3, 1, 2)
        if self.swap_channels:
            x = x[:, [2, 1, 0]]
        return (x.float() - self.mean) / self.std

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.preprocess(images) if self.with_preprocess else images
        head = self.head
        cfg = head.test_cfg
        num_classes = head.num_classes
        cls_scores, bbox_preds = head(self.detector.extract_feat(x))
        logits = torch.cat([s.permute(0, 2, 3, 1).reshape(s.shape[0], -1, num_classes + 1)
                            for s in cls_scores], 1)
        deltas = torch.cat([d.permute(0, 2, 3, 1).reshape(d.shape[0], -1, 4)
                            for d in bbox_preds], 1)
        priors = head.priors(cls_scores)  # a constant of the graph
        num_priors = priors.shape[0]

        scores = F.softmax(logits.float(), dim=-1)[..., :num_classes].flatten(1)
        total = num_priors * num_classes
        k = total if cfg.nms_pre < 0 else min(int(cfg.nms_pre), total)
        top_scores, top_idx = scores.topk(k, dim=1)
        prior_idx = top_idx // num_classes
        labels = top_idx % num_classes
        sel_deltas = deltas.float().gather(1, prior_idx.unsqueeze(-1).expand(-1, -1, 4))
        shape = torch.tensor(self.input_size, dtype=torch.float32)
        boxes = head.box_coder.decode(sel_deltas, priors[prior_idx], shape)

        valid = top_scores > cfg.score_thr
        if cfg.min_bbox_size >= 0:
            wh = boxes[..., 2:] - boxes[..., :2]
            valid = valid & (wh > cfg.min_bbox_size).all(-1)
        cand = torch.where(valid, top_scores, torch.full_like(top_scores, -1.0))
        # [B, C, k]: each candidate scores only in its own class.
        classes = torch.arange(num_classes).reshape(1, -1, 1)
        class_scores = torch.where(labels.unsqueeze(1) == classes, cand.unsqueeze(1),
                                   torch.full_like(cand.unsqueeze(1), -1.0))
        max_per_img = min(int(cfg.max_per_img), k)
        iou = float(cfg.nms.get('iou_threshold', cfg.nms.get('iou_thr', 0.5)))
        selected = NonMaxSuppression.apply(
            boxes, class_scores, torch.tensor([max_per_img], dtype=torch.long),
            torch.tensor([iou], dtype=torch.float32),
            torch.tensor([-0.5], dtype=torch.float32))  # masked candidates are -1

        flat = selected[:, 0] * k + selected[:, 2]
        kept = torch.full_like(cand, -1.0).flatten().scatter(
            0, flat, cand.flatten().gather(0, flat)).reshape(cand.shape)
        det_scores, order = kept.topk(max_per_img, dim=1)
        det_boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
        det_labels = labels.gather(1, order)
        found = det_scores > -0.5
        dets = torch.cat([det_boxes, det_scores.unsqueeze(-1)], -1)
        dets = torch.where(found.unsqueeze(-1), dets, torch.zeros_like(dets))
        det_labels = torch.where(found, det_labels, torch.full_like(det_labels, -1))
        return dets, det_labels


# ----------------------------------------------------------------- config helpers
def inference_pipeline_cfg(cfg) -> List[dict]:
    """The config's test pipeline without annotation loading (inference on
    images that have none)."""
    from mmdet.utils import get_test_pipeline_cfg
    pipeline = copy.deepcopy(get_test_pipeline_cfg(cfg))
    return [t for t in pipeline if t['type'] not in ('LoadAnnotations',
                                                     'mmdet.LoadAnnotations')]


def input_size_from_cfg(cfg) -> Tuple[int, int]:
    """``(H, W)`` the test pipeline resizes to; it must not keep the aspect
    ratio (a fixed-size ONNX input cannot reproduce that)."""
    for t in inference_pipeline_cfg(cfg):
        if t['type'] in ('Resize', 'mmdet.Resize'):
            if t.get('keep_ratio', False):
                raise ValueError('the test pipeline resizes with keep_ratio=True; '
                                 'give --input-size H W for a fixed-size export')
            scale = t['scale']
            if isinstance(scale, int):
                return scale, scale
            return int(scale[1]), int(scale[0])  # mmcv scales are (w, h)
    raise ValueError('no Resize in the test pipeline; give --input-size H W')


def set_input_size(cfg, input_size: Tuple[int, int]) -> None:
    """Makes the test pipeline resize to ``(H, W)`` without keeping the
    aspect ratio (what an export at that size expects)."""
    from mmdet.utils import get_test_pipeline_cfg
    h, w = input_size
    for t in get_test_pipeline_cfg(cfg):
        if t['type'] in ('Resize', 'mmdet.Resize'):
            t.update(scale=(int(w), int(h)), keep_ratio=False)
            return
    raise ValueError('no Resize in the test pipeline')


def build_detector(config, checkpoint: Optional[str] = None, device: str = 'cpu'):
    """Builds the config's detector in eval mode, with weights loaded
    weights-only (:func:`ssd_ext.utils.checkpoint.safe_load`)."""
    import ssd_ext  # noqa: F401  (registers modules, checkpoint allow-list)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    from ssd_ext.registry import MODELS
    from ssd_ext.utils.checkpoint import safe_load
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        ckpt = safe_load(checkpoint)
        _load_checkpoint_to_model(model, ckpt, strict=True)
    model.cfg = cfg
    return model.to(device).eval()


def export_onnx(model: nn.Module, out_file: str, input_size: Tuple[int, int],
                opset: int = DEFAULT_OPSET, with_preprocess: bool = False,
                channel_order: str = 'bgr', trace_batch: int = 2) -> ExportableSSD:
    """Exports ``model`` (see :class:`ExportableSSD`) with a dynamic batch axis.

    Traced with ``trace_batch`` images (not 1, so no size-1 dimension is
    folded into the graph as a constant).
    """
    if opset < 11:
        raise ValueError(f'opset {opset}: NonMaxSuppression needs opset >= 11')
    wrapper = ExportableSSD(model, input_size, with_preprocess, channel_order).eval()
    h, w = wrapper.input_size
    if with_preprocess:
        dummy = torch.randint(0, 256, (trace_batch, h, w, 3), dtype=torch.uint8)
    else:
        dummy = torch.randn(trace_batch, 3, h, w) * 50
    dynamic = {'images': {0: 'batch'}, 'dets': {0: 'batch'}, 'labels': {0: 'batch'}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # TracerWarnings, exporter deprecation
        torch.onnx.export(wrapper, (dummy,), out_file, dynamo=False,
                          opset_version=opset, input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, dynamic_axes=dynamic,
                          do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(out_file))
    return wrapper


# ---------------------------------------------------------------- verification
def load_inputs(model: nn.Module, files: Sequence[str]) -> Tuple[Dict, np.ndarray]:
    """Runs the test pipeline (without annotations) and the data
    preprocessor on ``files``.

    Returns the preprocessed batch (``inputs`` float [B, 3, H, W] and
    ``data_samples``) and the resized uint8 HWC images (the ``with_preprocess``
    input).
    """
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    pipeline = Compose(inference_pipeline_cfg(model.cfg))
    packed = [pipeline(dict(img_path=f, img_id=i)) for i, f in enumerate(files)]
    raw = np.stack([p['inputs'].permute(1, 2, 0).numpy() for p in packed])
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate(packed), False)
    return data, raw


def torch_detections(model: nn.Module, data: Dict) -> List[Dict[str, np.ndarray]]:
    """``model.predict(..., rescale=True)`` as numpy, per image."""
    with torch.no_grad():
        samples = model.predict(data['inputs'], data['data_samples'], rescale=True)
    return [dict(bboxes=s.pred_instances.bboxes.numpy(),
                 scores=s.pred_instances.scores.numpy(),
                 labels=s.pred_instances.labels.numpy()) for s in samples]


def onnx_detections(dets: np.ndarray, labels: np.ndarray, data_samples: Sequence
                    ) -> List[Dict[str, np.ndarray]]:
    """The ONNX outputs per image, padding removed, boxes rescaled to the
    original image with each sample's ``scale_factor``."""
    out = []
    for d, lab, sample in zip(dets, labels, data_samples):
        keep = lab >= 0
        sx, sy = sample.metainfo['scale_factor']
        boxes = d[keep, :4] / np.array([sx, sy, sx, sy], dtype=np.float32)
        out.append(dict(bboxes=boxes, scores=d[keep, 4], labels=lab[keep]))
    return out


def compare_detections(ref: Dict[str, np.ndarray], other: Dict[str, np.ndarray],
                       score_thr: float = 0.05, top_n: int = 50,
                       box_atol: float = 1e-2, score_atol: float = 1e-4) -> Dict:
    """Matches the top ``top_n`` detections above ``score_thr`` of each side to
    detections of the other (same label, scores within ``score_atol``, every
    coordinate within ``box_atol`` px). Candidates on the other side are not
    thresholded, so a score next to the threshold cannot cause a mismatch.

    Returns ``ok``, ``compared`` (PyTorch detections matched), the largest
    differences of all matches and the ``unmatched`` detections of both sides.
    """
    report = dict(ok=True, compared=0, max_box_diff=0.0, max_score_diff=0.0,
                  unmatched=[])
    for name, a, b in (('pytorch', ref, other), ('onnx', other, ref)):
        order = np.argsort(-a['scores'], kind='stable')
        order = order[a['scores'][order] > score_thr][:top_n]
        used = np.zeros(len(b['scores']), bool)
        for i in order:
            same = (b['labels'] == a['labels'][i]) & ~used
            score_diff = np.abs(b['scores'] - a['scores'][i])
            box_diff = np.abs(b['bboxes'] - a['bboxes'][i]).max(1) if len(b['scores']) \
                else np.zeros(0)
            ok = same & (score_diff <= score_atol) & (box_diff <= box_atol)
            if not ok.any():
                report['ok'] = False
                report['unmatched'].append(
                    dict(side=name, label=int(a['labels'][i]), score=float(a['scores'][i]),
                         box=[round(float(v), 3) for v in a['bboxes'][i]]))
                continue
            j = int(np.flatnonzero(ok)[np.argmin(box_diff[ok])])
            used[j] = True
            report['compared'] += name == 'pytorch'
            report['max_box_diff'] = max(report['max_box_diff'], float(box_diff[j]))
            report['max_score_diff'] = max(report['max_score_diff'], float(score_diff[j]))
    return report


def image_files(path: str) -> List[str]:
    """``path`` itself, or the images in folder ``path`` (sorted)."""
    exts = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
    if osp.isdir(path):
        files = sorted(osp.join(path, f) for f in os.listdir(path)
                       if f.lower().endswith(exts))
        if not files:
            raise FileNotFoundError(f'no images ({", ".join(exts)}) in folder {path}')
        return files
    if not osp.isfile(path):
        raise FileNotFoundError(f'no such image or folder: {path}')
    return [path]
