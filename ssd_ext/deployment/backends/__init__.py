"""Inference backends (PyTorch, ONNX Runtime, OpenVINO, TensorRT) behind one
interface, :class:`Engine`: float32 normalised images in, fixed-shape
``(dets, labels)`` out. Backends other than PyTorch import their packages only
when used (the ``deploy`` extra).
"""
from ssd_ext.deployment.backends.build import BACKENDS, EngineBuilder, unavailable
from ssd_ext.deployment.backends.interface import Engine
from ssd_ext.deployment.backends.load import ENGINE_SUFFIXES, load_engine, open_engine
from ssd_ext.deployment.backends.onnxruntime_engine import OnnxRuntimeEngine
from ssd_ext.deployment.backends.onnxruntime_int8 import quantize_onnx_int8
from ssd_ext.deployment.backends.torch_engine import PyTorchEngine

__all__ = ['BACKENDS', 'EngineBuilder', 'unavailable', 'Engine', 'ENGINE_SUFFIXES',
           'load_engine', 'open_engine', 'OnnxRuntimeEngine', 'quantize_onnx_int8', 'PyTorchEngine']
