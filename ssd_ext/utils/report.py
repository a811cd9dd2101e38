"""Human-readable result tables."""
from typing import Dict

COCO_COLUMNS = (('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'), ('AP75', 'bbox_mAP_75'),
                ('APs', 'bbox_mAP_s'), ('APm', 'bbox_mAP_m'), ('APl', 'bbox_mAP_l'))


def format_coco_table(metrics: Dict[str, float], title: str = 'Model') -> str:
    """Markdown table ``Model | AP | AP50 | AP75 | APs | APm | APl`` from the
    metrics dict of MMDetection's ``CocoMetric`` (keys ``<prefix>/bbox_mAP``...)."""
    values = {}
    for key, value in metrics.items():
        values[key.split('/')[-1]] = value
    missing = [k for _, k in COCO_COLUMNS if k not in values]
    if missing:
        raise KeyError(f'metrics lack {missing}; got {sorted(metrics)}')
    head = '| Model | ' + ' | '.join(name for name, _ in COCO_COLUMNS) + ' |'
    rule = '|' + '---|' * (len(COCO_COLUMNS) + 1)
    # COCO reports -1 for an area range with no ground truth.
    cells = [f'{100 * values[k]:.1f}' if values[k] >= 0 else 'n/a' for _, k in COCO_COLUMNS]
    row = f'| {title} | ' + ' | '.join(cells) + ' |'
    return '\n'.join([head, rule, row])
