"""Building each backend's engine from one model: the fp32 ONNX export is made
once and shared, the calibration images are preprocessed once and shared by
every INT8 backend, and every engine file gets its probe (:mod:`.probe`),
checked once before the engine is returned."""
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from torch import nn

from ssd_ext.deployment.backends.interface import Engine
from ssd_ext.deployment.backends.probe import PROBE_IMAGES, check_probe, write_probe

BACKENDS = ('pytorch', 'pytorch-bf16', 'onnxruntime-fp32', 'onnxruntime-int8',
            'openvino-fp32', 'openvino-int8', 'tensorrt-fp16', 'tensorrt-int8')
EXTRA = 'pip install -e ".[deploy]"'


def _missing(*modules: str) -> Optional[str]:
    import importlib.util
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    return f'needs {" and ".join(absent)} ({EXTRA})' if absent else None


def unavailable(backend: str) -> Optional[str]:
    """Why ``backend`` cannot be built on this machine, or ``None``."""
    if backend not in BACKENDS:
        raise ValueError(f'unknown backend {backend!r}; expected one of {BACKENDS}')
    if backend == 'pytorch-bf16':
        from ssd_ext.utils.machine import cpu_has_native_bf16
        return None if cpu_has_native_bf16() else \
            'needs a CPU with native bf16 (AMX or AVX512-BF16)'
    if backend.startswith('onnxruntime'):
        return _missing('onnx', 'onnxruntime')
    if backend == 'openvino-fp32':
        return _missing('onnx', 'openvino')
    if backend == 'openvino-int8':
        return _missing('onnx', 'openvino', 'nncf')
    if backend.startswith('tensorrt'):
        from ssd_ext.deployment.backends.tensorrt_engine import tensorrt_unavailable
        # INT8's QDQ file comes from ONNX Runtime's quantiser.
        needs = ('onnx', 'onnxruntime') if backend.endswith('int8') else ('onnx',)
        return _missing(*needs) or tensorrt_unavailable()
    return None


class EngineBuilder:
    """Builds engines of ``model`` into ``work_dir``.

    Args:
        model: The detector (eval mode, config as ``model.cfg``).
        work_dir: Where the engine files go (``fp32.onnx``, ``int8.onnx``,
            ``openvino_fp32.xml``...).
        input_size: ``(H, W)`` of the network input.
        calibration: Called once, when an INT8 backend is first built: the
            calibration inputs (float32 ``[1, 3, H, W]`` each).
        threads: Threads of the CPU backends (``None``: theirs to choose).
        calib_method: ONNX Runtime's range estimate (``minmax``...).
        extra_fp32: Node-name patterns kept in fp32 besides the defaults.
        max_batch: Largest batch any engine will be given (a TensorRT
            engine's profile ends there; the compiled PyTorch path is warmed up
            with it).
        probe_inputs: float32 ``[N, 3, H, W]`` recorded in each engine file's
            probe; ``None``: the first :data:`~.probe.PROBE_IMAGES`
            calibration inputs.
    """

    def __init__(self, model: nn.Module, work_dir: str, input_size: Tuple[int, int],
                 calibration: Callable[[], List[np.ndarray]], threads: Optional[int] = None,
                 calib_method: str = 'minmax', extra_fp32: Sequence[str] = (),
                 max_batch: int = 8, probe_inputs: Optional[np.ndarray] = None) -> None:
        self.model, self.work_dir, self.input_size = model, work_dir, input_size
        self._calibration, self._inputs = calibration, None
        self.threads, self.calib_method = threads, calib_method
        self.extra_fp32, self.max_batch = list(extra_fp32), max_batch
        self._probe_inputs = probe_inputs
        self._exported = False
        self._quant_info: Dict[str, Dict] = {}  # file stem -> the quantiser's report

    def path(self, name: str) -> str:
        return osp.join(self.work_dir, name)

    def calibration_inputs(self) -> List[np.ndarray]:
        if self._inputs is None:
            self._inputs = self._calibration()
        return self._inputs

    def fp32_onnx(self) -> str:
        """``fp32.onnx``, exported on first use."""
        if not self._exported:
            from ssd_ext.deployment.export import export_onnx
            export_onnx(self.model, self.path('fp32.onnx'), self.input_size)
            self._exported = True
        return self.path('fp32.onnx')

    def int8_onnx(self, info: Dict, symmetric: bool = False) -> str:
        """The QDQ INT8 file: uint8 activations for ONNX Runtime, symmetric
        int8 for TensorRT (``int8_symmetric.onnx``)."""
        name = 'int8_symmetric' if symmetric else 'int8'
        if name not in self._quant_info:
            from ssd_ext.deployment.backends.onnxruntime_int8 import quantize_onnx_int8
            self._quant_info[name] = quantize_onnx_int8(
                self.fp32_onnx(), self.path(f'{name}.onnx'), self.calibration_inputs(),
                self.calib_method, self.extra_fp32, symmetric)
        info.update(self._quant_info[name])
        return self.path(f'{name}.onnx')

    def build(self, backend: str) -> Tuple[Engine, Dict]:
        """The engine of ``backend`` and what building it did: ``file``,
        ``build_s`` and, for INT8, the quantiser's report (what was kept fp32
        and why, calibration images)."""
        reason = unavailable(backend)
        if reason:
            raise RuntimeError(f'{backend}: {reason}')
        start, info = time.perf_counter(), {}
        engine = self._build(backend, info)
        if 'file' in info:
            info['probe'] = self._write_probe(engine, info['file'])
        if 'int8' in backend:
            info['calibration_images'] = len(self.calibration_inputs())
        info['build_s'] = time.perf_counter() - start
        return engine, info

    def probe_inputs(self) -> np.ndarray:
        if self._probe_inputs is None:
            self._probe_inputs = np.concatenate(self.calibration_inputs()[:PROBE_IMAGES])
        return self._probe_inputs

    def _write_probe(self, engine: Engine, file: str) -> str:
        """Records ``engine``'s probe (PyTorch fp32's detections for an fp32
        engine, its own otherwise) and checks the engine against it, so that
        an fp32 engine that disagrees with PyTorch fails here."""
        from ssd_ext.utils.machine import machine_description
        inputs = self.probe_inputs()
        if engine.precision == 'fp32':
            from ssd_ext.deployment.backends.torch_engine import PyTorchEngine
            dets, labels = PyTorchEngine(self.model)(inputs)
            reference = 'PyTorch fp32'
        else:
            dets, labels = engine(inputs)
            reference = f'its own ({engine.name} at build)'
        machine = machine_description(engine.device)
        path = write_probe(file, engine.backend, engine.precision, inputs, dets, labels,
                           reference, machine)
        check_probe(engine, file, machine)
        return path

    def _build(self, backend: str, info: Dict) -> Engine:
        if backend in ('pytorch', 'pytorch-bf16'):
            from ssd_ext.deployment.backends.torch_engine import PyTorchEngine
            if backend == 'pytorch':
                return PyTorchEngine(self.model)
            # tools/test.py's fast CPU path: bf16 autocast, channels_last, compiled.
            import copy
            engine = PyTorchEngine(copy.deepcopy(self.model), 'bfloat16',
                                   channels_last=True, compiled=True)
            # Compiles now, so that build_s counts it and no timing does.
            engine(np.zeros((self.max_batch, 3, *self.input_size), np.float32))
            return engine
        if backend.startswith('onnxruntime'):
            from ssd_ext.deployment.backends.onnxruntime_engine import OnnxRuntimeEngine
            file = self.fp32_onnx() if backend.endswith('fp32') else self.int8_onnx(info)
            info['file'] = file
            return OnnxRuntimeEngine(file, self.threads)
        if backend.startswith('openvino'):
            from ssd_ext.deployment.backends.openvino_engine import (OpenVINOEngine,
                                                                     convert_onnx_to_ir)
            if backend.endswith('fp32'):
                file = convert_onnx_to_ir(self.fp32_onnx(), self.path('openvino_fp32.xml'))
            else:
                from ssd_ext.deployment.backends.openvino_int8 import quantize_ir_int8
                file = self.path('openvino_int8.xml')
                info.update(quantize_ir_int8(self.fp32_onnx(), file,
                                             self.calibration_inputs(), self.extra_fp32))
            info['file'] = file
            return OpenVINOEngine(file, self.threads)
        from ssd_ext.deployment.backends.tensorrt_engine import (TensorRTEngine,
                                                                 build_tensorrt_engine)
        precision = backend.split('-')[1]
        onnx_file = (self.fp32_onnx() if precision == 'fp16'
                     else self.int8_onnx(info, symmetric=True))
        file = build_tensorrt_engine(onnx_file, self.path(f'tensorrt_{precision}.engine'),
                                     precision, self.input_size, self.max_batch)
        info['file'] = file
        return TensorRTEngine(file, precision)
