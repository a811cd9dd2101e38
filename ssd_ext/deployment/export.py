"""Writes an :class:`~ssd_ext.deployment.exportable.ExportableSSD` to an ONNX file.

The graph has a dynamic batch axis; input ``images``, outputs ``dets`` and
``labels`` as that class describes them. Per-class NMS is ONNX's
``NonMaxSuppression`` op, hence opset >= 11.
"""
import warnings
from typing import Tuple

import torch
from torch import nn

from ssd_ext.deployment.exportable import ExportableSSD
from ssd_ext.deployment.preprocess import GraphPreprocess

DEFAULT_OPSET = 17
INPUT_NAMES = ['images']
OUTPUT_NAMES = ['dets', 'labels']


def export_onnx(model: nn.Module, out_file: str, input_size: Tuple[int, int],
                opset: int = DEFAULT_OPSET, with_preprocess: bool = False,
                channel_order: str = 'bgr', trace_batch: int = 2) -> ExportableSSD:
    """Exports ``model`` with a dynamic batch axis and checks the file.

    Args:
        model: A detector built from a config, with that config as ``model.cfg``
            (as :func:`ssd_ext.apis.build_detector` and MMDetection's
            ``init_detector`` leave it).
        input_size: ``(H, W)`` of the network input.
        with_preprocess: Take uint8 ``[B, H, W, 3]`` images in
            ``channel_order`` and normalise them in the graph
            (:class:`~ssd_ext.deployment.preprocess.GraphPreprocess`).
        trace_batch: Images traced with; not 1, so no size-1 dimension is
            folded into the graph as a constant.
    """
    if opset < 11:
        raise ValueError(f'opset {opset}: NonMaxSuppression needs opset >= 11')
    preprocess = None
    if with_preprocess:
        preprocess = GraphPreprocess(model.cfg.model.get('data_preprocessor') or {},
                                     channel_order)
    wrapper = ExportableSSD(model, input_size, preprocess).eval()
    h, w = wrapper.input_size
    if with_preprocess:
        dummy = torch.randint(0, 256, (trace_batch, h, w, 3), dtype=torch.uint8)
    else:
        dummy = torch.randn(trace_batch, 3, h, w) * 50
    dynamic = {name: {0: 'batch'} for name in INPUT_NAMES + OUTPUT_NAMES}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # TracerWarnings, exporter deprecation
        torch.onnx.export(wrapper, (dummy,), out_file, dynamo=False,
                          opset_version=opset, input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, dynamic_axes=dynamic,
                          do_constant_folding=True)
    import onnx  # optional dependency (the ``tests`` extra)
    onnx.checker.check_model(onnx.load(out_file))
    return wrapper
