"""An engine file's probe: a few network inputs and the detections the engine
must give on them, recorded when it was built and checked wherever it is opened.

The rule: :func:`~ssd_ext.deployment.engines.load_engine` runs the probe and
refuses an engine that disagrees with it beyond its precision's tolerance (a
miscompiled kernel, another CPU's arithmetic, a weights file changed after the
build). The recorded detections are PyTorch fp32's for fp32 engines, and the
engine's own at build time for reduced precision (INT8, fp16), which is not
meant to equal PyTorch. The probe lies beside the engine as ``FILE.probe.npz``:
numpy arrays and a JSON string, read without pickle.
"""
import json
import os.path as osp
import warnings
from typing import Dict, List, Tuple

import numpy as np

from ssd_ext.deployment.verify import Detections, compare_detections

PROBE_SUFFIX = '.probe.npz'
PROBE_IMAGES = 2
# precision -> (box px, score): what an engine of that precision may move on
# another machine. fp32 differs between CPUs only in summation order (1e-4 px
# and less); INT8 and fp16 also in rounding and kernels chosen.
TOLERANCES = {'fp32': (0.05, 1e-3), 'fp16': (1.0, 0.02), 'int8': (2.0, 0.05)}
# The recorded detections compared: each side's best TOP_N above SCORE_THR.
SCORE_THR = 0.05
TOP_N = 50


class ProbeMismatch(RuntimeError):
    """An engine's detections differ from the ones its probe recorded."""


def probe_file(engine_file: str) -> str:
    return engine_file + PROBE_SUFFIX


def padded_to_detections(dets: np.ndarray, labels: np.ndarray) -> List[Detections]:
    """Engine outputs (``dets`` [B, K, 5], ``labels`` [B, K]) per image,
    padding rows (label -1) dropped, boxes in network-input pixels."""
    keep = labels >= 0
    return [dict(bboxes=d[k, :4], scores=d[k, 4], labels=lab[k])
            for d, lab, k in zip(dets, labels, keep)]


def write_probe(engine_file: str, backend: str, precision: str, inputs: np.ndarray,
                dets: np.ndarray, labels: np.ndarray, reference: str, built_on: str) -> str:
    """Writes ``engine_file``'s probe: ``inputs`` float32 [N, 3, H, W], the
    expected ``dets``/``labels`` on them, and ``reference`` (what produced
    them) and ``built_on`` (the machine) for the error message."""
    if precision not in TOLERANCES:
        raise ValueError(f'{engine_file}: no probe tolerance for precision {precision!r}; '
                         f'known: {sorted(TOLERANCES)}')
    meta = dict(backend=backend, precision=precision, reference=reference,
                built_on=built_on)
    path = probe_file(engine_file)
    with open(path, 'wb') as f:  # np.savez would append .npz to a name
        np.savez_compressed(f, inputs=inputs.astype(np.float32), dets=dets,
                            labels=labels.astype(np.int64), meta=np.array(json.dumps(meta)))
    return path


def read_probe(engine_file: str) -> Dict:
    """The probe of ``engine_file``: ``inputs``, ``dets``, ``labels`` and the
    ``meta`` dict; ``{}`` when it has none."""
    path = probe_file(engine_file)
    if not osp.isfile(path):
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            probe = {k: data[k] for k in ('inputs', 'dets', 'labels')}
            probe['meta'] = json.loads(str(data['meta']))
    except (OSError, ValueError, KeyError) as e:
        raise ProbeMismatch(f'{path}: unreadable engine probe ({e}); rebuild the engine '
                            'with tools/deployment/deploy.py') from e
    return probe


def largest_difference(ref: Detections, got: Detections, box_atol: float,
                       score_atol: float) -> Tuple[float, float]:
    """``(box px, score)`` of the worst-matched of ``ref``'s compared detections:
    each is paired with the same-label detection of ``got`` nearest to it
    relative to the tolerances; ``inf`` where ``got`` has none of its label."""
    worst, pair = -1.0, (0.0, 0.0)
    order = np.argsort(-ref['scores'], kind='stable')
    for i in order[ref['scores'][order] > SCORE_THR][:TOP_N]:
        same = got['labels'] == ref['labels'][i]
        if not same.any():
            return float('inf'), float('inf')
        box = np.abs(got['bboxes'][same] - ref['bboxes'][i]).max(1)
        score = np.abs(got['scores'][same] - ref['scores'][i])
        j = int(np.argmin(np.maximum(box / box_atol, score / score_atol)))
        if max(box[j] / box_atol, score[j] / score_atol) > worst:
            worst, pair = max(box[j] / box_atol, score[j] / score_atol), (box[j], score[j])
    return float(pair[0]), float(pair[1])


def check_probe(engine, engine_file: str, machine: str) -> Dict:
    """Runs ``engine`` on the probe of ``engine_file`` and raises
    :class:`ProbeMismatch`, naming the file, the backend, ``machine`` and the
    largest difference, unless every compared detection is matched within the
    tolerance of the probe's precision. Without a probe: one warning, ``{}``.

    Returns the probe's ``meta`` with ``compared`` (detections matched).
    """
    probe = read_probe(engine_file)
    if not probe:
        warnings.warn(f'{engine_file}: no probe ({probe_file(engine_file)}); the engine was '
                      'built elsewhere and is not checked on this machine')
        return {}
    meta = probe['meta']
    if meta['backend'] != engine.backend:
        raise ProbeMismatch(f"{engine_file}: its probe was recorded for {meta['backend']}, "
                            f'but the file opens on {engine.backend}')
    box_atol, score_atol = TOLERANCES[meta['precision']]
    got = padded_to_detections(*engine(probe['inputs']))
    ref = padded_to_detections(probe['dets'], probe['labels'])
    reports = [compare_detections(r, g, SCORE_THR, TOP_N, box_atol, score_atol)
               for r, g in zip(ref, got)]
    if not all(rep['ok'] for rep in reports):
        box, score = (max(d) for d in zip(*(largest_difference(r, g, box_atol, score_atol)
                                             for r, g in zip(ref, got))))
        unmatched = sum(len(rep['unmatched']) for rep in reports)
        raise ProbeMismatch(
            f"{engine_file}: the {meta['backend']} {meta['precision']} engine disagrees "
            f"with its probe on {machine}: largest difference {box:.4g} px in a box, "
            f'{score:.4g} in a score (tolerance {box_atol} px, {score_atol}); {unmatched} '
            f"detections unmatched. The probe holds {meta['reference']} detections from "
            f"{meta['built_on']}. The file may have changed since, or this machine computes "
            'the engine differently: rebuild it here (tools/deployment/deploy.py).')
    return dict(meta, compared=sum(rep['compared'] for rep in reports))
