from ssd_ext.evaluation.voc_metric import ClasswiseVOCMetric

__all__ = ['ClasswiseVOCMetric']
