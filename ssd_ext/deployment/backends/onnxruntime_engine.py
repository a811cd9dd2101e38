"""ONNX Runtime (CPU) running an exported detector, fp32 or INT8 (QDQ)."""
from typing import Optional, Tuple

import numpy as np

from ssd_ext.deployment.backends.interface import Engine, fixed_size


def is_quantized(onnx_file: str) -> bool:
    """Whether the graph holds QuantizeLinear nodes (a QDQ INT8 model)."""
    import onnx
    graph = onnx.load(onnx_file, load_external_data=False).graph
    return any(n.op_type == 'QuantizeLinear' for n in graph.node)


class OnnxRuntimeEngine(Engine):
    """An ONNX file exported by :func:`ssd_ext.deployment.export_onnx` (or its
    INT8 version, :func:`ssd_ext.deployment.backends.quantize_onnx_int8`) on
    ONNX Runtime's CPU execution provider.

    Args:
        onnx_file: The model.
        threads: Intra-op threads; ``None`` lets ONNX Runtime use every core.
    """

    backend = 'onnxruntime'

    def __init__(self, onnx_file: str, threads: Optional[int] = None) -> None:
        import onnxruntime as ort
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(onnx_file, options,
                                            providers=['CPUExecutionProvider'])
        self.file = onnx_file
        self.input_size = fixed_size(self.session.get_inputs()[0].shape)
        self.precision = 'int8' if is_quantized(onnx_file) else 'fp32'

    def __call__(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        dets, labels = self.session.run(None, {'images': np.ascontiguousarray(images)})
        return dets, labels
