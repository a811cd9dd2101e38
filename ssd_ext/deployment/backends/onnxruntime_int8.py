"""INT8 static quantisation of an exported detector with ONNX Runtime: QDQ
format, weights int8 per output channel, activations uint8 calibrated on the
user's images."""
import os
import os.path as osp
import tempfile
from typing import Dict, Sequence

import numpy as np

from ssd_ext.deployment.backends.int8_scope import (fp32_reasons, infinite_pad_nodes,
                                                    split_nodes)

# Op types given Q/DQ pairs inside the network: the convolutions, and the ops
# between them that only move or compare values (ReLU, max pooling and its
# ceil-mode expansion into Slice/Max, concatenation), so that ONNX Runtime
# chains int8 convolutions without a round trip through fp32. Not Pad: the
# expansion pads odd sizes with -inf, and that pool stays fp32 whole
# (int8_scope.infinite_pad_nodes).
INT8_OP_TYPES = ['Conv', 'Relu', 'MaxPool', 'Max', 'Slice', 'Concat']
CALIBRATION_METHODS = ('minmax', 'entropy', 'percentile')
# ONNX Runtime's own advice for a QDQ model TensorRT builds from: biases stay
# fp32 (no int32 DequantizeLinear), weights keep a Q/DQ pair, no pair is shared.
TENSORRT_QDQ = dict(QuantizeBias=False, AddQDQPairToWeight=True, DedicatedQDQPair=True)


def cpu_has_vnni() -> bool:
    """Whether the CPU has VNNI (AVX512-VNNI or AVX-VNNI) int8 dot products."""
    from ssd_ext.utils.machine import cpu_flags
    return bool(cpu_flags() & {'avx512_vnni', 'avx_vnni'})


class _Reader:
    """ONNX Runtime's CalibrationDataReader over a list of inputs."""

    def __init__(self, inputs: Sequence[np.ndarray]) -> None:
        self.batches = iter(inputs)

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {'images': batch}


def check_scales(onnx_file: str) -> None:
    """Raises if a quantisation scale is zero or not finite (an activation that
    was constant over every calibration image), naming the tensor."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(onnx_file)
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != 'QuantizeLinear' or node.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[node.input[1]])
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ValueError(f'{onnx_file}: quantisation scale of {node.input[0]!r} is '
                             f'{scale.ravel()[:4]}: that tensor did not vary over the '
                             'calibration images; calibrate on more, or keep its layer '
                             'in fp32 (--fp32-layers)')


def quantize_onnx_int8(fp32_file: str, out_file: str, inputs: Sequence[np.ndarray],
                       method: str = 'minmax', extra_fp32: Sequence[str] = (),
                       symmetric: bool = False) -> Dict:
    """Writes the INT8 QDQ version of ``fp32_file`` to ``out_file``.

    Args:
        inputs: Calibration batches (float32 ``[1, 3, H, W]``, as
            :func:`ssd_ext.deployment.calibration.calibration_inputs` makes).
        method: ``minmax``, ``entropy`` or ``percentile`` (99.999%) ranges.
        extra_fp32: Node-name patterns kept in fp32 besides the defaults of
            :mod:`.int8_scope`.
        symmetric: The file for TensorRT: int8 activations with zero point 0,
            full-range weights, fp32 biases, and a dedicated Q/DQ pair on every
            weight and every consumer, as TensorRT's explicit quantisation
            expects (for ONNX Runtime on a CPU the default uint8 activations
            keep one more bit for post-ReLU tensors).

    Returns:
        ``quantised`` and ``kept_fp32`` node counts, the ``fp32`` reasons,
        ``reduce_range`` and ``method``.

    Without VNNI, x86 int8 convolutions multiply uint8 by int8 with 16-bit
    saturating adds (``vpmaddubsw``), so weights are quantised to 7 bits there
    (``reduce_range``), as ONNX Runtime advises; the file is then slightly less
    accurate on VNNI CPUs too.
    """
    import onnx
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    if method not in CALIBRATION_METHODS:
        raise ValueError(f'calibration method {method!r}: expected one of '
                         f'{CALIBRATION_METHODS}')
    if not inputs:
        raise ValueError('no calibration images')
    reduce_range = not symmetric and not cpu_has_vnni()
    with tempfile.TemporaryDirectory() as tmp:
        # Folds constants and fuses BatchNorm into Conv first, as ONNX Runtime
        # advises; its symbolic shape inference (1.32, docs/upstream.md) cannot follow
        # NMS's data-dependent shapes, and ONNX's own inference is enough here.
        pre = osp.join(tmp, 'pre.onnx')
        quant_pre_process(fp32_file, pre, skip_symbolic_shape=True)
        graph = onnx.load(pre).graph
        quantised, kept = split_nodes([n.name for n in graph.node], extra_fp32,
                                      infinite_pad_nodes(graph))
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        quantize_static(
            pre, out_file, _Reader(inputs), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=INT8_OP_TYPES, nodes_to_quantize=quantised,
            per_channel=True, reduce_range=reduce_range,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method={'minmax': CalibrationMethod.MinMax,
                              'entropy': CalibrationMethod.Entropy,
                              'percentile': CalibrationMethod.Percentile}[method],
            extra_options=dict(CalibPercentile=99.999, ActivationSymmetric=symmetric,
                               **(TENSORRT_QDQ if symmetric else {})))
    check_scales(out_file)
    return dict(method=method, quantised=len(quantised), kept_fp32=len(kept),
                reduce_range=reduce_range, symmetric=symmetric, fp32=fp32_reasons(extra_fp32))
