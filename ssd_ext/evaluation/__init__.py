from ssd_ext.evaluation.checked_metric import CheckedCocoMetric
from ssd_ext.evaluation.voc_metric import ClasswiseVOCMetric

__all__ = ['CheckedCocoMetric', 'ClasswiseVOCMetric']
