from ssd_ext.data.augmentation import SSDPhotometricDistortion, SSDRandomGeometry
from ssd_ext.data.checked_coco import CheckedCocoDataset
from ssd_ext.data.checked_voc import CheckedVOCDataset
from ssd_ext.data.data_report import DataCheckError, DataReport

__all__ = ['CheckedCocoDataset', 'CheckedVOCDataset', 'DataCheckError', 'DataReport',
           'SSDPhotometricDistortion', 'SSDRandomGeometry']
