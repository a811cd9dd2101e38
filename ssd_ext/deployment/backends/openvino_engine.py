"""OpenVINO (CPU plugin) running an exported detector: fp32 IR converted from
the ONNX file, or INT8 IR quantised by NNCF (:mod:`.openvino_int8`)."""
from typing import Optional, Tuple

import numpy as np

from ssd_ext.deployment.backends.interface import Engine, fixed_size
from ssd_ext.deployment.backends.signal_stack import keeps_signal_stack


def convert_onnx_to_ir(onnx_file: str, xml_file: str) -> str:
    """Writes the ONNX model as OpenVINO IR (``.xml`` + ``.bin``), weights in
    fp32 (``compress_to_fp16=False``: the fp32 row must be fp32)."""
    import openvino as ov
    ov.save_model(ov.convert_model(onnx_file), xml_file, compress_to_fp16=False)
    return xml_file


def is_int8_ir(model) -> bool:
    """Whether the OpenVINO model holds FakeQuantize ops (NNCF's INT8)."""
    return any(op.get_type_name() == 'FakeQuantize' for op in model.get_ops())


class OpenVINOEngine(Engine):
    """An IR file on OpenVINO's CPU plugin.

    fp32 IR runs with ``INFERENCE_PRECISION_HINT=f32``: on a CPU with AMX or
    AVX512-BF16 the plugin (OpenVINO 2026.4, docs/upstream.md) would otherwise
    run it in bf16 and the fp32 row would not be fp32. INT8 IR keeps NNCF's
    fp32 parts in fp32 likewise.
    Denormals are not flushed: ``CPU_DENORMALS_OPTIMIZATION`` sets FTZ/DAZ in
    the threads that run inference, the caller's included, where they outlive
    the engine (docs/deployment.md). Compiling keeps the caller's alternate
    signal stack (:mod:`.signal_stack` says why).

    Args:
        xml_file: The model (its ``.bin`` beside it).
        threads: ``INFERENCE_NUM_THREADS``; ``None`` lets OpenVINO choose.
    """

    backend = 'openvino'

    def __init__(self, xml_file: str, threads: Optional[int] = None) -> None:
        import openvino as ov
        core = ov.Core()
        model = core.read_model(xml_file)
        self.precision = 'int8' if is_int8_ir(model) else 'fp32'
        shape = model.input(0).get_partial_shape()
        self.input_size = fixed_size([d.get_length() if d.is_static else None
                                      for d in shape])
        config = {'INFERENCE_PRECISION_HINT': 'f32', 'PERFORMANCE_HINT': 'LATENCY'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = int(threads)
        with keeps_signal_stack():
            self.compiled = core.compile_model(model, 'CPU', config)
        self.request = self.compiled.create_infer_request()
        self.file = xml_file

    def __call__(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        out = self.request.infer({'images': np.ascontiguousarray(images)})
        return (np.asarray(out[self.compiled.output('dets')]),
                np.asarray(out[self.compiled.output('labels')]).astype(np.int64))
