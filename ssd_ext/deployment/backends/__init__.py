"""Inference backends: PyTorch, ONNX Runtime, OpenVINO and TensorRT. The
detector each one runs (an engine: a file built for it, or PyTorch's model)
offers one interface, :class:`Engine`: float32 normalised images in,
fixed-shape ``(dets, labels)`` out.

- ``interface.py``: :class:`Engine`, the interface
- ``torch_engine.py``: :class:`PyTorchEngine`, ``model.predict`` (the reference)
- ``onnxruntime_engine.py``: :class:`OnnxRuntimeEngine`, fp32 or INT8 ONNX files
- ``onnxruntime_int8.py``: :func:`quantize_onnx_int8`, static QDQ quantisation
- ``openvino_engine.py``: :class:`OpenVINOEngine`, and ONNX -> OpenVINO IR
- ``openvino_int8.py``: :func:`quantize_ir_int8`, NNCF's post-training INT8
- ``int8_scope.py``: what both INT8 quantisers keep in fp32, and why
- ``tensorrt_engine.py``: :class:`TensorRTEngine` (CUDA), fp16 or INT8 builds
- ``build.py``: :class:`EngineBuilder`, every backend from one model
- ``load.py``: :func:`load_engine`, an engine file by its suffix, probe checked
- ``probe.py``: each engine file's probe, run where the engine is opened
- ``signal_stack.py``: the caller's signal stack, kept across OpenVINO's compile

Backends other than PyTorch import their packages only when used (the
``deploy`` extra: ``SSD_EXT_EXTRAS=deploy bash tools/bootstrap.sh``).
"""
from ssd_ext.deployment.backends.build import BACKENDS, EngineBuilder, unavailable
from ssd_ext.deployment.backends.interface import Engine
from ssd_ext.deployment.backends.load import ENGINE_SUFFIXES, load_engine, open_engine
from ssd_ext.deployment.backends.onnxruntime_engine import OnnxRuntimeEngine
from ssd_ext.deployment.backends.onnxruntime_int8 import quantize_onnx_int8
from ssd_ext.deployment.backends.torch_engine import PyTorchEngine

__all__ = ['BACKENDS', 'EngineBuilder', 'unavailable', 'Engine', 'ENGINE_SUFFIXES',
           'load_engine', 'open_engine', 'OnnxRuntimeEngine', 'quantize_onnx_int8', 'PyTorchEngine']
