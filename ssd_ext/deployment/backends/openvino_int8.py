"""INT8 post-training quantisation of an exported detector with OpenVINO's
own tool, NNCF: FakeQuantize ops calibrated on the user's images, fast bias
correction, the same fp32 parts as the ONNX Runtime quantiser
(:mod:`.int8_scope`)."""
import logging
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np

from ssd_ext.deployment.backends.int8_scope import (fp32_reasons, infinite_pad_nodes,
                                                    split_nodes)
from ssd_ext.deployment.backends.openvino_engine import is_int8_ir
from ssd_ext.deployment.backends.signal_stack import keeps_signal_stack


def quantize_ir_int8(onnx_file: str, xml_file: str, inputs: Sequence[np.ndarray],
                     extra_fp32: Sequence[str] = ()) -> Dict:
    """Converts ``onnx_file`` to OpenVINO, quantises it with NNCF on ``inputs``
    (float32 ``[1, 3, H, W]`` each) and writes the INT8 IR to ``xml_file``.

    Returns ``quantised`` (FakeQuantize ops inserted), ``kept_fp32`` (network
    ops NNCF was told to skip) and the ``fp32`` reasons.
    """
    import nncf
    import openvino as ov
    if not inputs:
        raise ValueError('no calibration images')
    nncf.set_log_level(logging.WARNING)  # else one line per op it leaves alone
    import onnx
    model = ov.convert_model(onnx_file)
    names = [op.get_friendly_name() for op in model.get_ops()]
    quantised, kept = split_nodes(names, extra_fp32,
                                  infinite_pad_nodes(onnx.load(onnx_file).graph))
    ignored = sorted(set(names) - set(quantised))
    with keeps_signal_stack():  # NNCF compiles the model to calibrate it
        quantised = nncf.quantize(
            model, nncf.Dataset(list(inputs)), subset_size=len(inputs),
            preset=nncf.QuantizationPreset.PERFORMANCE,
            ignored_scope=nncf.IgnoredScope(names=ignored, validate=False))
    if not is_int8_ir(quantised):
        raise RuntimeError(f'NNCF inserted no FakeQuantize op into {onnx_file}')
    os.makedirs(osp.dirname(osp.abspath(xml_file)), exist_ok=True)
    ov.save_model(quantised, xml_file, compress_to_fp16=False)
    count = sum(op.get_type_name() == 'FakeQuantize' for op in quantised.get_ops())
    return dict(quantised=count, kept_fp32=len(kept), fp32=fp32_reasons(extra_fp32))
