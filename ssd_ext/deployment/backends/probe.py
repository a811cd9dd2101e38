"""An engine file's probe: a few network inputs and the detections the engine
must give on them, recorded when it was built and checked wherever it is opened.

The rule: :func:`~ssd_ext.deployment.backends.load_engine` runs the probe and
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
from typing import Dict, List, Optional

import numpy as np

from ssd_ext.deployment.verify import Detections, compare_detections

PROBE_SUFFIX = '.probe.npz'
PROBE_IMAGES = 2
# fp32: every one of each side's best TOP_N detections above SCORE_THR has a
# twin (same label) within (box px, score). fp32 differs between CPUs only in
# summation order (1e-4 px and less), so this is an order above the export's
# parity check.
FP32_TOLERANCE = (0.05, 1e-3)
SCORE_THR = 0.05
TOP_N = 50
# INT8 and fp16: their kernels differ between CPUs by design (VNNI or not,
# AMX), so single detections move by pixels; they are held to what deploy.py
# asks of them against PyTorch: the probe's detections scoring at least
# AGREEMENT_SCORE found (same label, IoU >= 0.5), with scores close on average.
AGREEMENT_SCORE = 0.3
MIN_RECALL = 0.95
MAX_MEAN_SCORE_DIFF = 0.05


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


def fp32_disagreement(ref: List[Detections], got: List[Detections]) -> Optional[str]:
    """Why fp32 detections ``got`` miss ``ref`` (per image), or ``None``."""
    reports = [compare_detections(r, g, SCORE_THR, TOP_N, *FP32_TOLERANCE)
               for r, g in zip(ref, got)]
    if all(rep['ok'] for rep in reports):
        return None
    unmatched = [u for rep in reports for u in rep['unmatched']]
    box, score = max((u['nearest'] or (float('inf'), float('inf')) for u in unmatched),
                     key=lambda d: max(d[0] / FP32_TOLERANCE[0], d[1] / FP32_TOLERANCE[1]))
    return (f'largest difference {box:.4g} px in a box, {score:.4g} in a score (tolerance '
            f'{FP32_TOLERANCE[0]} px, {FP32_TOLERANCE[1]}); {len(unmatched)} detections unmatched')


def reduced_disagreement(ref: List[Detections], got: List[Detections]) -> Optional[str]:
    """Why INT8/fp16 detections ``got`` fall short of ``ref``, or ``None``."""
    from ssd_ext.deployment.agreement import image_agreement, summarise
    s = summarise(image_agreement(r, g, AGREEMENT_SCORE) for r, g in zip(ref, got))
    if s['recall'] >= MIN_RECALL and s['mean_score_diff'] <= MAX_MEAN_SCORE_DIFF:
        return None
    return (f"found {s['matched']} of its {s['reference']} detections scoring >= "
            f"{AGREEMENT_SCORE} (recall {s['recall']:.1%}, at least {MIN_RECALL:.0%} "
            f"needed), mean score difference {s['mean_score_diff']:.3g} (at most "
            f"{MAX_MEAN_SCORE_DIFF}), largest box difference {s['max_box_diff']:.3g} px")


def check_probe(engine, engine_file: str, machine: str) -> Dict:
    """Runs ``engine`` on the probe of ``engine_file`` and raises
    :class:`ProbeMismatch`, naming the file, the backend, ``machine`` and how
    far the engine is off, unless it meets its precision's bar (fp32:
    :func:`fp32_disagreement`, else :func:`reduced_disagreement`). Without a
    probe: one warning, ``{}``.

    Returns the probe's ``meta``.
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
    got = padded_to_detections(*engine(probe['inputs']))
    ref = padded_to_detections(probe['dets'], probe['labels'])
    disagrees = fp32_disagreement if meta['precision'] == 'fp32' else reduced_disagreement
    why = disagrees(ref, got)
    if why:
        raise ProbeMismatch(
            f"{engine_file}: the {meta['backend']} {meta['precision']} engine disagrees "
            f"with its probe on {machine}: {why}. The probe holds {meta['reference']} "
            f"detections from {meta['built_on']}. The file may have changed since, or this "
            'machine computes the engine differently: rebuild it here '
            '(tools/deployment/deploy.py).')
    return meta
