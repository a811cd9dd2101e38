"""Every engine on the same labelled images in one pass: each engine's own
detections scored by the config's test evaluator (COCO AP/AP50 for COCO-style
sets), and compared image by image with the reference engine's (PyTorch)."""
import contextlib
import copy
import io
import logging
from typing import Callable, Dict, List, Optional

import torch
from mmdet.structures import DetDataSample
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmengine.structures import InstanceData
from torch import nn

from ssd_ext.deployment.agreement import image_agreement, summarise
from ssd_ext.deployment.backends.interface import Engine
from ssd_ext.deployment.verify import compare_detections, onnx_detections


@contextlib.contextmanager
def _quiet():
    """Silences one evaluation's COCO summary and per-class table (printed by
    pycocotools and logged by the metric), which would repeat per engine."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _with_predictions(sample: DetDataSample, det: Dict) -> DetDataSample:
    out = sample.clone()
    out.pred_instances = InstanceData(bboxes=torch.from_numpy(det['bboxes']),
                                      scores=torch.from_numpy(det['scores']),
                                      labels=torch.from_numpy(det['labels']))
    return out


def evaluate_engines(engines: Dict[str, Engine], model: nn.Module, batch_size: int = 8,
                     reference: str = 'pytorch', agreement_score_thr: float = 0.3,
                     box_atol: float = 1e-2, score_atol: float = 1e-4,
                     max_images: Optional[int] = None,
                     log: Callable[[str], None] = print) -> Dict[str, Dict]:
    """Runs ``engines`` (name -> engine, ``reference`` among them) on the
    config's test split (``model.cfg.test_dataloader``) and returns per engine:

    - ``metrics``: the config's ``test_evaluator`` on the engine's detections;
    - ``parity``: :func:`~ssd_ext.deployment.compare_detections` against the
      reference with the export's tolerances (``ok`` only if every image
      matched; what fp32 engines must meet);
    - ``agreement``: :func:`~ssd_ext.deployment.agreement.summarise` of the
      reference's detections scoring at least ``agreement_score_thr``.

    Images are preprocessed once per batch by the model's data preprocessor,
    and every engine sees the same float tensor. ``max_images`` cuts the split
    short: exactly that many images are run, and the evaluator still scores
    against its whole annotation file (the other images count as missed), so
    AP is that of a smoke run only.
    """
    if reference not in engines:
        raise ValueError(f'reference engine {reference!r} is not among {sorted(engines)}')
    cfg = model.cfg
    loader_cfg = dict(copy.deepcopy(cfg.test_dataloader), batch_size=batch_size)
    if max_images is not None:
        loader_cfg['dataset'] = dict(loader_cfg['dataset'], indices=max_images)
    loader = Runner.build_dataloader(loader_cfg)
    evaluators = {}
    for name in engines:
        evaluators[name] = Evaluator(copy.deepcopy(cfg.test_evaluator))
        evaluators[name].dataset_meta = loader.dataset.metainfo
    parity = {name: [] for name in engines}
    agreement: Dict[str, List[Dict]] = {name: [] for name in engines}
    seen = 0
    for data_batch in loader:
        with torch.no_grad():
            data = model.data_preprocessor(data_batch, False)
        inputs, samples = data['inputs'].cpu().numpy(), data['data_samples']
        dets = {name: onnx_detections(*engine(inputs), samples)
                for name, engine in engines.items()}
        for name in engines:
            evaluators[name].process(
                data_samples=[_with_predictions(s, d) for s, d in zip(samples, dets[name])],
                data_batch=data_batch)
            for ref, other in zip(dets[reference], dets[name]):
                parity[name].append(compare_detections(ref, other, box_atol=box_atol,
                                                       score_atol=score_atol))
                agreement[name].append(image_agreement(ref, other, agreement_score_thr))
        seen += len(samples)
        log(f'  evaluated {seen}/{len(loader.dataset)} images')
    results = {}
    for name in engines:
        reports = parity[name]
        with _quiet():
            metrics = evaluators[name].evaluate(seen)
        results[name] = dict(
            metrics=metrics,
            parity=dict(ok=all(r['ok'] for r in reports),
                        images_matched=sum(r['ok'] for r in reports), images=len(reports),
                        max_box_diff=max((r['max_box_diff'] for r in reports), default=0.0),
                        max_score_diff=max((r['max_score_diff'] for r in reports),
                                           default=0.0),
                        box_atol=box_atol, score_atol=score_atol),
            agreement=dict(summarise(agreement[name]), score_thr=agreement_score_thr))
    return results
