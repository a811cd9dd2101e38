from ssd_ext.data.augmentation import SSDPhotometricDistortion, SSDRandomGeometry
from ssd_ext.data.checked_coco import CheckedCocoDataset
from ssd_ext.data.checked_metric import CheckedCocoMetric
from ssd_ext.data.checks import DataCheckError, DataReport

__all__ = ['CheckedCocoDataset', 'CheckedCocoMetric', 'DataCheckError', 'DataReport',
           'SSDPhotometricDistortion', 'SSDRandomGeometry']
