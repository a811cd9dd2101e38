"""Deployment of a whole SSD detector (network, box decoding and per-class NMS):
ONNX export, engines of several backends, and measuring them against PyTorch.
"""
from ssd_ext.deployment.export import DEFAULT_OPSET, export_onnx
from ssd_ext.deployment.exportable import ExportableSSD
from ssd_ext.deployment.onnx_nms import NonMaxSuppression, fixed_shape_nms
from ssd_ext.deployment.preprocess import GraphPreprocess
from ssd_ext.deployment.verify import (compare_detections, load_inputs,
                                       onnx_detections, torch_detections)

__all__ = ['DEFAULT_OPSET', 'export_onnx', 'ExportableSSD', 'NonMaxSuppression',
           'fixed_shape_nms', 'GraphPreprocess', 'compare_detections', 'load_inputs',
           'onnx_detections', 'torch_detections']
