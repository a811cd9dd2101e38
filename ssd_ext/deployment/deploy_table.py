"""The deployment table: one row per engine, accuracy, agreement with PyTorch
and speed side by side; and the checks a release would gate on."""
from typing import Dict, List, Optional, Sequence

from ssd_ext.utils.metric_tables import markdown_table

ACCURACY_HEADER = ['engine', 'AP', 'AP50', 'AP50 vs ref', 'same as ref', 'recall of ref',
                   'box diff px mean/max', 'score diff mean/max']


def speed_header(batches: Sequence[int]) -> List[str]:
    """Latency at the first batch size, throughput at the others, speed-up at
    the first."""
    first, *others = batches
    return ([f'batch {first} ms'] + [f'batch {b} img/s' for b in others]
            + [f'batch {first} speed-up'])


def _ap(metrics: Dict, name: str) -> Optional[float]:
    """``bbox_mAP``/``bbox_mAP_50`` of any metric prefix (``coco/...``)."""
    for key, value in metrics.items():
        if key.split('/')[-1] == name:
            return float(value)
    return None


def _fmt(value, spec: str) -> str:
    return '-' if value is None else format(value, spec)


def deploy_rows(results: Dict[str, Dict], reference: str,
                batches: Sequence[int] = (1, 8)) -> List[Dict]:
    """Flat rows (what the JSON holds and the table shows) from
    ``{engine: {metrics, parity, agreement, speed, build}}`` (``speed`` keyed
    by batch size); AP figures in percent, speed-up against the reference's
    latency at the first of ``batches``."""
    ref = results[reference]
    ref_ap50 = _ap(ref['metrics'], 'bbox_mAP_50')
    ref_ms = ref.get('speed', {}).get(batches[0], {}).get('latency_ms')
    rows = []
    for name, r in results.items():
        if 'skipped' in r:
            rows.append(dict(engine=name, skipped=r['skipped']))
            continue
        ap, ap50 = _ap(r['metrics'], 'bbox_mAP'), _ap(r['metrics'], 'bbox_mAP_50')
        speed = r.get('speed', {})
        b1 = speed.get(batches[0], {}).get('latency_ms')
        rows.append(dict(
            engine=name, ap=None if ap is None else 100 * ap,
            ap50=None if ap50 is None else 100 * ap50,
            ap50_vs_ref=None if ap50 is None or ref_ap50 is None else 100 * (ap50 - ref_ap50),
            parity=r['parity'], agreement=r['agreement'],
            speed={str(b): s for b, s in speed.items()},
            speedup=None if b1 is None or ref_ms is None else ref_ms / b1,
            build=r.get('build', {})))
    return rows


def format_table(rows: List[Dict], batches: Sequence[int] = (1, 8)) -> str:
    """The rows as a markdown table, speed columns for ``batches``."""
    header = ACCURACY_HEADER + speed_header(batches) + ['build s']
    cells_of_rows = []
    for r in rows:
        if 'skipped' in r:
            cells_of_rows.append([r['engine'], f"skipped: {r['skipped']}"]
                                 + [''] * (len(header) - 2))
            continue
        par, agr, speed = r['parity'], r['agreement'], r['speed']
        cells = [r['engine'], _fmt(r['ap'], '.1f'), _fmt(r['ap50'], '.1f'),
                 _fmt(r['ap50_vs_ref'], '+.1f'),
                 f"{'yes' if par['ok'] else 'no'} ({par['images_matched']}/{par['images']})",
                 f"{100 * agr['recall']:.1f}% of {agr['reference']}",
                 f"{agr['mean_box_diff']:.2g} / {agr['max_box_diff']:.2g}",
                 f"{agr['mean_score_diff']:.2g} / {agr['max_score_diff']:.2g}",
                 _fmt(speed.get(str(batches[0]), {}).get('latency_ms'), '.1f')]
        cells += [_fmt(speed.get(str(b), {}).get('images_per_s'), '.1f') for b in batches[1:]]
        cells += [_fmt(r['speedup'], '.2f') + ('x' if r['speedup'] else ''),
                  _fmt(r['build'].get('build_s'), '.1f')]
        cells_of_rows.append(cells)
    return markdown_table(header, cells_of_rows)


def failed_checks(rows: List[Dict], max_ap50_drop: float) -> List[str]:
    """What a release gate would refuse: an fp32 engine whose detections differ
    from the reference beyond the export tolerances, or a reduced-precision
    engine (INT8, fp16, bf16) more than ``max_ap50_drop`` AP50 points below it."""
    failures = []
    for r in rows:
        if 'skipped' in r:
            continue
        if r['engine'].endswith('fp32') and not r['parity']['ok']:
            p = r['parity']
            failures.append(f"{r['engine']}: detections differ from the reference on "
                            f"{p['images'] - p['images_matched']} of {p['images']} images "
                            f"(box atol {p['box_atol']} px, score atol {p['score_atol']})")
        elif not r['engine'].endswith('fp32') and r['ap50_vs_ref'] is not None \
                and r['ap50_vs_ref'] < -max_ap50_drop:
            failures.append(f"{r['engine']}: AP50 {r['ap50']:.1f} is "
                            f"{-r['ap50_vs_ref']:.1f} points below the reference "
                            f"(allowed {max_ap50_drop})")
    return failures
