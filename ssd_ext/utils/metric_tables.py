"""Human-readable result tables: the table that fits each evaluator's metrics.

The metrics dict of an MMEngine evaluation has ``<prefix>/<name>`` keys, one
prefix per metric (``coco``, ``pascal_voc``, ...). Each prefix's set of names is
shown as

- COCO (``CocoMetric``'s ``bbox_mAP`` ... ``bbox_mAP_l``):
  ``| Model | AP | AP50 | AP75 | APs | APm | APl |``;
- Pascal VOC (``VOCMetric``'s ``mAP`` and ``AP50``; ``ClasswiseVOCMetric`` adds
  ``AP50_<class>``): ``| Model | IoU | mAP | <class> ... |``, one row per IoU
  threshold, under a line naming the AP definition (11-point or area);
- anything else: a plain ``| metric | value |`` table.

Values are percentages with one decimal; a negative value (COCO's and
``ClasswiseVOCMetric``'s "no ground truth") is ``n/a``. Formatting never raises
on an unexpected metric set.
"""
import re
from collections import OrderedDict
from numbers import Real
from typing import Any, Dict, Iterable, List, Mapping, Optional

COCO_COLUMNS = (('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'), ('AP75', 'bbox_mAP_75'),
                ('APs', 'bbox_mAP_s'), ('APm', 'bbox_mAP_m'), ('APl', 'bbox_mAP_l'))
VOC_MODES = {'11points': '11-point interpolated AP (VOC2007)',
             'area': 'area under the precision-recall curve (VOC2010+)'}
_THRESHOLD = re.compile(r'AP(\d+)$')
_CLASS_AP = re.compile(r'AP(\d+)_(.+)$')


def group_by_prefix(metrics: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """``{'coco': {'bbox_mAP': ...}, 'pascal_voc': {'mAP': ...}}``, in key order;
    keys without a prefix are grouped under ``''``."""
    groups: Dict[str, Dict[str, Any]] = OrderedDict()
    for key, value in metrics.items():
        # Prefixes hold no '/', names may (a class called 'a/b').
        prefix, sep, name = key.partition('/')
        if not sep:
            prefix, name = '', key
        groups.setdefault(prefix, OrderedDict())[name] = value
    return groups


def _cell(value: Any) -> str:
    if not isinstance(value, Real):
        return str(value)
    return f'{100 * value:.1f}' if value >= 0 else 'n/a'


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def is_coco(values: Mapping[str, Any]) -> bool:
    return all(isinstance(values.get(k), Real) for _, k in COCO_COLUMNS)


def format_coco_table(values: Mapping[str, Any], title: str = 'Model') -> str:
    """``| Model | AP | AP50 | AP75 | APs | APm | APl |`` from one prefix's
    values of MMDetection's ``CocoMetric`` (names ``bbox_mAP``...)."""
    return markdown_table(['Model'] + [name for name, _ in COCO_COLUMNS],
                          [[title] + [_cell(values[k]) for _, k in COCO_COLUMNS]])


def voc_thresholds(values: Mapping[str, Any]) -> List[str]:
    """The ``AP<iou>`` names of the thresholds, in key order."""
    return [name for name in values if _THRESHOLD.match(name)]


def voc_classes(values: Mapping[str, Any], threshold: str) -> List[str]:
    """Class names with an ``<threshold>_<class>`` AP, in key order."""
    found = (_CLASS_AP.match(name) for name in values)
    return [m.group(2) for m in found if m and f'AP{m.group(1)}' == threshold]


def is_voc(values: Mapping[str, Any]) -> bool:
    return isinstance(values.get('mAP'), Real) and bool(voc_thresholds(values))


def format_voc_table(values: Mapping[str, Any], title: str = 'Model',
                     eval_mode: Optional[str] = None) -> str:
    """Pascal VOC table from one prefix's values of ``VOCMetric`` or
    ``ClasswiseVOCMetric``: a line with the AP definition (``eval_mode``
    ``'11points'`` or ``'area'``; unknown: not said), then
    ``| Model | IoU | mAP | <class> ... |`` with a row per IoU threshold and,
    for several thresholds, a last row with their mean."""
    thresholds = voc_thresholds(values)
    classes = voc_classes(values, thresholds[0])
    rows = []
    for key in thresholds:
        iou = f'{int(key[2:]) / 100:.2f}'
        # One threshold: its mAP is 'mAP' itself, unrounded.
        value = values['mAP'] if len(thresholds) == 1 else values[key]
        rows.append([title, iou, _cell(value)]
                    + [_cell(values.get(f'{key}_{name}', 'n/a')) for name in classes])
    if len(thresholds) > 1:
        rows.append([title, 'mean', _cell(values['mAP'])] + [''] * len(classes))
    caption = 'Pascal VOC mAP' + (f', {VOC_MODES[eval_mode]}' if eval_mode in VOC_MODES
                                  else '') + ':'
    return caption + '\n' + markdown_table(['Model', 'IoU', 'mAP'] + classes, rows)


def format_key_value_table(metrics: Mapping[str, Any]) -> str:
    """``| metric | value |`` with the values as they are (4 decimals)."""
    def value(v: Any) -> str:
        return f'{v:.4f}' if isinstance(v, Real) else str(v)
    return markdown_table(['metric', 'value'], [[k, value(v)] for k, v in metrics.items()])


def format_metrics(metrics: Mapping[str, Any], title: str = 'Model',
                   voc_eval_modes: Optional[Mapping[str, str]] = None) -> str:
    """The table of each prefix's metric set (see the module docstring),
    separated by blank lines. ``voc_eval_modes``: prefix -> ``eval_mode`` of
    the VOC metrics (see :func:`voc_eval_modes`)."""
    if not metrics:
        return '(no metrics)'
    modes = voc_eval_modes or {}
    tables = []
    for prefix, values in group_by_prefix(metrics).items():
        if is_coco(values):
            tables.append(format_coco_table(values, title))
        elif is_voc(values):
            tables.append(format_voc_table(values, title, modes.get(prefix)))
        else:
            tables.append(format_key_value_table(
                {f'{prefix}/{k}' if prefix else k: v for k, v in values.items()}))
    return '\n\n'.join(tables)


def voc_eval_modes(metrics: Iterable[Any]) -> Dict[str, str]:
    """``{prefix: eval_mode}`` of the VOC metrics among an evaluator's metric
    objects (``Evaluator.metrics``)."""
    from mmdet.evaluation import VOCMetric
    return {m.prefix: m.eval_mode for m in metrics if isinstance(m, VOCMetric)}


def jsonable_metrics(metrics: Mapping[str, Any]) -> Dict[str, Any]:
    """Numbers as Python floats (numpy scalars included), anything else as is."""
    return {k: float(v) if isinstance(v, Real) else v for k, v in metrics.items()}


__all__ = ['format_metrics', 'format_coco_table', 'format_voc_table',
           'format_key_value_table', 'group_by_prefix', 'voc_eval_modes',
           'jsonable_metrics', 'COCO_COLUMNS']
