"""Deployment of a whole SSD detector (network, box decoding and per-class NMS):
ONNX export, engines of several backends, and measuring them against PyTorch.

- ``exportable.py``: :class:`ExportableSSD`, the detector as one module with
  fixed-shape outputs (inputs and outputs described there)
- ``onnx_nms.py``: per-class NMS as ONNX's ``NonMaxSuppression`` op
- ``preprocess.py``: :class:`GraphPreprocess`, the data preprocessor's
  normalisation inside the graph (uint8 image input)
- ``export.py``: :func:`export_onnx`, writes and checks the ONNX file
- ``verify.py``: onnxruntime's detections against PyTorch's
- ``backends/``: PyTorch, ONNX Runtime, OpenVINO and TensorRT engines, fp32 and INT8
- ``calibration.py``: the images INT8 is calibrated on
- ``evaluate.py``: every engine on the config's test split, AP and agreement
- ``agreement.py``: how closely a reduced-precision engine follows PyTorch
- ``timing.py``: latency and throughput of an engine
- ``deploy_table.py``: the deployment table and its release checks

``tools/deployment/export_onnx.py`` and ``tools/deployment/deploy.py`` are the
command lines; ``tools/video_demo.py`` runs any engine on a video.
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
