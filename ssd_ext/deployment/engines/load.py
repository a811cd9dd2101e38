"""Opening a built engine file with the backend its suffix names."""
import os.path as osp
from typing import Optional

from ssd_ext.deployment.engines.engine import Engine

# suffix -> backend that runs it
ENGINE_SUFFIXES = {'.onnx': 'onnxruntime', '.xml': 'openvino', '.engine': 'tensorrt',
                   '.plan': 'tensorrt'}


def load_engine(path: str, threads: Optional[int] = None) -> Engine:
    """An :class:`Engine` for ``path``: ``.onnx`` (fp32 or INT8) on ONNX
    Runtime, ``.xml`` (with its ``.bin``) on OpenVINO's CPU plugin, ``.engine``
    or ``.plan`` on TensorRT. ``threads`` caps the CPU backends' threads."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'engine file not found: {path}')
    suffix = osp.splitext(path)[1].lower()
    backend = ENGINE_SUFFIXES.get(suffix)
    if backend == 'onnxruntime':
        from ssd_ext.deployment.engines.onnxruntime_engine import OnnxRuntimeEngine
        return OnnxRuntimeEngine(path, threads)
    if backend == 'openvino':
        from ssd_ext.deployment.engines.openvino_engine import OpenVINOEngine
        return OpenVINOEngine(path, threads)
    if backend == 'tensorrt':
        from ssd_ext.deployment.engines.tensorrt_engine import TensorRTEngine
        return TensorRTEngine(path)
    raise ValueError(f'{path}: unknown engine suffix {suffix!r}; expected one of '
                     f'{sorted(ENGINE_SUFFIXES)}')
