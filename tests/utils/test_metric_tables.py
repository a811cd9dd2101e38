"""``format_metrics``: the table that fits each evaluator, never a crash."""
import numpy as np

from ssd_ext.evaluation import ClasswiseVOCMetric
from ssd_ext.utils.metric_tables import format_metrics, jsonable_metrics, voc_eval_modes

COCO = {'coco/bbox_mAP': 0.231, 'coco/bbox_mAP_50': 0.412, 'coco/bbox_mAP_75': 0.234,
        'coco/bbox_mAP_s': -1.0, 'coco/bbox_mAP_m': 0.232, 'coco/bbox_mAP_l': 0.396}
VOC = {'pascal_voc/mAP': 0.74321, 'pascal_voc/AP50': 0.743,
       'pascal_voc/AP50_RBC': np.float64(0.7012), 'pascal_voc/AP50_WBC': 0.95,
       'pascal_voc/AP50_Platelets': -1.0}


def test_coco_table_as_before():
    assert format_metrics(COCO, 'ssd300.py') == (
        '| Model | AP | AP50 | AP75 | APs | APm | APl |\n'
        '|---|---|---|---|---|---|---|\n'
        '| ssd300.py | 23.1 | 41.2 | 23.4 | n/a | 23.2 | 39.6 |')


def test_voc_table_with_per_class_ap_and_mode():
    assert format_metrics(VOC, 'voc.py', {'pascal_voc': '11points'}) == (
        'Pascal VOC mAP, 11-point interpolated AP (VOC2007):\n'
        '| Model | IoU | mAP | RBC | WBC | Platelets |\n'
        '|---|---|---|---|---|---|\n'
        '| voc.py | 0.50 | 74.3 | 70.1 | 95.0 | n/a |')
    area = format_metrics(VOC, 'voc.py', {'pascal_voc': 'area'})
    assert area.startswith('Pascal VOC mAP, area under the precision-recall curve')


def test_plain_vocmetric_and_several_thresholds():
    table = format_metrics({'pascal_voc/mAP': 0.5, 'pascal_voc/AP50': 0.6,
                            'pascal_voc/AP75': 0.4, 'pascal_voc/AP50_a': 0.6,
                            'pascal_voc/AP75_a': 0.4}, 'x')
    assert table.splitlines()[1:] == [
        '| Model | IoU | mAP | a |', '|---|---|---|---|',
        '| x | 0.50 | 60.0 | 60.0 |', '| x | 0.75 | 40.0 | 40.0 |', '| x | mean | 50.0 |  |']
    plain = format_metrics({'pascal_voc/mAP': 0.5, 'pascal_voc/AP50': 0.5}, 'x')
    assert plain.splitlines()[-1] == '| x | 0.50 | 50.0 |'


def test_both_evaluators_and_unknown_sets():
    text = format_metrics({**COCO, **VOC, 'recall/AR@100': 0.5, 'note': 'text'}, 'm')
    tables = text.split('\n\n')
    assert len(tables) == 4
    assert tables[0].startswith('| Model | AP | AP50 |')
    assert tables[1].startswith('Pascal VOC mAP:')
    assert tables[2] == '| metric | value |\n|---|---|\n| recall/AR@100 | 0.5000 |'
    assert tables[3].endswith('| note | text |')
    # A COCO set missing a key is shown as it is, not refused.
    partial = format_metrics({'coco/bbox_mAP': 0.1}, 'm')
    assert partial == '| metric | value |\n|---|---|\n| coco/bbox_mAP | 0.1000 |'
    assert format_metrics({}, 'm') == '(no metrics)'


def test_eval_modes_and_json_values():
    metrics = [ClasswiseVOCMetric(eval_mode='area', prefix='voc12'),
               ClasswiseVOCMetric(), object()]
    assert voc_eval_modes(metrics) == {'voc12': 'area', 'pascal_voc': '11points'}
    out = jsonable_metrics({'a': np.float32(0.5), 'b': 3, 'c': 'x'})
    assert out == {'a': 0.5, 'b': 3.0, 'c': 'x'} and type(out['a']) is float
