"""Checks an exported model: onnxruntime's detections against PyTorch's
``model.predict(..., rescale=True)`` on the same images."""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from torch import nn

from ssd_ext.utils.inference_input import inference_pipeline_cfg

Detections = Dict[str, np.ndarray]  # bboxes [N, 4], scores [N], labels [N]


def load_inputs(model: nn.Module, files: Sequence[str]) -> Tuple[Dict, np.ndarray]:
    """Runs the test pipeline (without annotations) and the data
    preprocessor on ``files``.

    Returns the preprocessed batch (``inputs`` float [B, 3, H, W] and
    ``data_samples``) and the resized uint8 images [B, H, W, 3] (the
    ``with_preprocess`` input).
    """
    pipeline = Compose(inference_pipeline_cfg(model.cfg))
    packed = [pipeline(dict(img_path=f, img_id=i)) for i, f in enumerate(files)]
    raw = np.stack([p['inputs'].permute(1, 2, 0).numpy() for p in packed])
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate(packed), False)
    return data, raw


def torch_detections(model: nn.Module, data: Dict) -> List[Detections]:
    """``model.predict(..., rescale=True)`` as numpy, per image."""
    with torch.no_grad():
        samples = model.predict(data['inputs'], data['data_samples'], rescale=True)
    return [dict(bboxes=s.pred_instances.bboxes.numpy(),
                 scores=s.pred_instances.scores.numpy(),
                 labels=s.pred_instances.labels.numpy()) for s in samples]


def onnx_detections(dets: np.ndarray, labels: np.ndarray, data_samples: Sequence
                    ) -> List[Detections]:
    """The ONNX outputs (``dets`` [B, K, 5], ``labels`` [B, K]) per image,
    padding removed, boxes rescaled to the original image with each sample's
    ``scale_factor``."""
    out = []
    for d, lab, sample in zip(dets, labels, data_samples):
        keep = lab >= 0
        sx, sy = sample.metainfo['scale_factor']
        boxes = d[keep, :4] / np.array([sx, sy, sx, sy], dtype=np.float32)
        out.append(dict(bboxes=boxes, scores=d[keep, 4], labels=lab[keep]))
    return out


def compare_detections(ref: Detections, other: Detections, score_thr: float = 0.05,
                       top_n: int = 50, box_atol: float = 1e-2,
                       score_atol: float = 1e-4) -> Dict:
    """Matches the top ``top_n`` detections above ``score_thr`` of each side to
    detections of the other (same label, scores within ``score_atol``, every
    coordinate within ``box_atol`` px). Candidates on the other side are not
    thresholded, so a score next to the threshold cannot cause a mismatch.

    Returns ``ok``, ``compared`` (PyTorch detections matched), the largest
    differences of all matches and the ``unmatched`` detections of both sides,
    each with ``nearest`` (the ``(box, score)`` differences of the unused
    same-label detection nearest it relative to the tolerances; ``None`` when
    the other side has none of its label).
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
                rel = np.where(same, np.maximum(box_diff / box_atol, score_diff / score_atol),
                               np.inf)
                near = int(np.argmin(rel)) if same.any() else None
                report['unmatched'].append(
                    dict(side=name, label=int(a['labels'][i]), score=float(a['scores'][i]),
                         box=[round(float(v), 3) for v in a['bboxes'][i]],
                         nearest=None if near is None else (float(box_diff[near]),
                                                            float(score_diff[near]))))
                continue
            j = int(np.flatnonzero(ok)[np.argmin(box_diff[ok])])
            used[j] = True
            report['compared'] += name == 'pytorch'
            report['max_box_diff'] = max(report['max_box_diff'], float(box_diff[j]))
            report['max_score_diff'] = max(report['max_score_diff'], float(score_diff[j]))
    return report
