"""TensorRT (CUDA GPU) running an exported detector: an engine built from the
fp32 ONNX file in fp16, or from the INT8 QDQ file (explicit quantisation: the
scales are those calibrated by :mod:`.onnxruntime_int8`, so every INT8 backend
shares one calibration)."""
from typing import Optional, Tuple

import numpy as np

from ssd_ext.deployment.backends.interface import Engine, fixed_size


def _torch_dtypes() -> dict:
    """TensorRT output dtype -> torch dtype (the parser may keep int64
    labels, or narrow them to int32)."""
    try:
        import tensorrt as trt
        import torch
    except ImportError:
        return {}
    return {trt.float32: torch.float32, trt.float16: torch.float16,
            trt.int32: torch.int32, trt.int64: torch.int64}


TORCH_DTYPES = _torch_dtypes()


def tensorrt_unavailable() -> Optional[str]:
    """Why TensorRT cannot run here, or ``None`` when it can."""
    import torch
    if not torch.cuda.is_available():
        return 'needs a CUDA GPU (torch.cuda.is_available() is False)'
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return 'needs the tensorrt package (pip install tensorrt, matching the CUDA of torch)'
    return None


def build_tensorrt_engine(onnx_file: str, engine_file: str, precision: str,
                          input_size: Tuple[int, int], max_batch: int = 8) -> str:
    """Parses ``onnx_file`` and writes a serialised engine to ``engine_file``.

    ``precision`` is ``'fp16'`` (fp16 kernels allowed) or ``'int8'``
    (``onnx_file`` is a QDQ model; int8 where its Q/DQ pairs say, fp16
    elsewhere). The batch axis is dynamic from 1 to ``max_batch``, tuned for
    ``max_batch``.
    """
    import tensorrt as trt
    if precision not in ('fp16', 'int8'):
        raise ValueError(f"TensorRT precision must be 'fp16' or 'int8', got {precision!r}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # explicit batch: TensorRT 10's only mode (docs/upstream.md)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_file):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f'TensorRT could not parse {onnx_file}: {errors}')
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == 'int8':
        config.set_flag(trt.BuilderFlag.INT8)
    h, w = input_size
    profile = builder.create_optimization_profile()
    profile.set_shape('images', (1, 3, h, w), (max_batch, 3, h, w), (max_batch, 3, h, w))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f'TensorRT failed to build an engine from {onnx_file} '
                           '(its log above says why)')
    with open(engine_file, 'wb') as f:
        f.write(serialized)
    return engine_file


class TensorRTEngine(Engine):
    """A serialised TensorRT engine on the current CUDA device, run on a CUDA
    stream of its own (TensorRT synchronises extra on the default stream);
    inputs and outputs go through torch CUDA tensors."""

    backend = 'tensorrt'
    device = 'cuda'

    def __init__(self, engine_file: str, precision: Optional[str] = None) -> None:
        import tensorrt as trt
        import torch
        reason = tensorrt_unavailable()
        if reason:
            raise RuntimeError(f'{engine_file}: TensorRT {reason}')
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)  # must outlive the engine
        with open(engine_file, 'rb') as f:
            self.engine = self.runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise RuntimeError(f'{engine_file}: not a TensorRT engine for this '
                               'TensorRT version and GPU')
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.file = engine_file
        self.precision = precision or 'fp16/int8'
        self.input_size = fixed_size(list(self.engine.get_tensor_shape('images')))
        self.batch_range = tuple(self.engine.get_tensor_profile_shape('images', 0)[i][0]
                                 for i in (0, 2))
        self.dtypes = {name: TORCH_DTYPES[self.engine.get_tensor_dtype(name)]
                       for name in ('dets', 'labels')}

    def __call__(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        import torch
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(np.ascontiguousarray(images)).cuda()
            if not self.context.set_input_shape('images', tuple(x.shape)):
                raise ValueError(f'{self.file}: batch {x.shape[0]} is outside the '
                                 f'engine\'s batch range {self.batch_range}')
            self.context.set_tensor_address('images', x.data_ptr())
            outputs = {}
            for name, dtype in self.dtypes.items():
                outputs[name] = torch.empty(tuple(self.context.get_tensor_shape(name)),
                                            dtype=dtype, device='cuda')
                self.context.set_tensor_address(name, outputs[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError(f'{self.file}: TensorRT execution failed')
            dets, labels = outputs['dets'].cpu(), outputs['labels'].long().cpu()
        return dets.numpy(), labels.numpy()
