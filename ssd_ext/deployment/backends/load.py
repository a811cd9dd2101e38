"""Opening a built engine file with the backend its suffix names, checked
against its probe (:mod:`.probe`) on the machine that opens it."""
import os.path as osp
from typing import Optional

from ssd_ext.deployment.backends.interface import Engine
from ssd_ext.deployment.backends.probe import check_probe, read_probe

# suffix -> backend that runs it
ENGINE_SUFFIXES = {'.onnx': 'onnxruntime', '.xml': 'openvino', '.engine': 'tensorrt',
                   '.plan': 'tensorrt'}


def open_engine(path: str, threads: Optional[int] = None) -> Engine:
    """An :class:`Engine` for ``path``, unchecked: ``.onnx`` (fp32 or INT8) on
    ONNX Runtime, ``.xml`` (with its ``.bin``) on OpenVINO's CPU plugin,
    ``.engine`` or ``.plan`` on TensorRT. ``threads`` caps the CPU backends'
    threads."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'engine file not found: {path}')
    suffix = osp.splitext(path)[1].lower()
    backend = ENGINE_SUFFIXES.get(suffix)
    if backend == 'onnxruntime':
        from ssd_ext.deployment.backends.onnxruntime_engine import OnnxRuntimeEngine
        return OnnxRuntimeEngine(path, threads)
    if backend == 'openvino':
        from ssd_ext.deployment.backends.openvino_engine import OpenVINOEngine
        return OpenVINOEngine(path, threads)
    if backend == 'tensorrt':
        from ssd_ext.deployment.backends.tensorrt_engine import TensorRTEngine
        # A serialised TensorRT engine does not say which precision built it.
        return TensorRTEngine(path, read_probe(path).get('meta', {}).get('precision'))
    raise ValueError(f'{path}: unknown engine suffix {suffix!r}; expected one of '
                     f'{sorted(ENGINE_SUFFIXES)}')


def load_engine(path: str, threads: Optional[int] = None) -> Engine:
    """:func:`open_engine`, then its probe run here: raises
    :class:`~ssd_ext.deployment.backends.probe.ProbeMismatch` (naming the file,
    backend, machine and largest difference) when the engine disagrees with
    the detections recorded at its build; warns once when it has no probe."""
    from ssd_ext.utils.machine import machine_description
    engine = open_engine(path, threads)
    check_probe(engine, path, machine_description(engine.device))
    return engine
