"""What every deployed detector offers: one call from network input to
fixed-shape detections, so evaluation, comparison, timing and the video demo
treat PyTorch, ONNX Runtime, OpenVINO and TensorRT alike."""
from typing import Optional, Sequence, Tuple

import numpy as np


def fixed_size(shape: Sequence) -> Optional[Tuple[int, int]]:
    """``(H, W)`` of an input shape ``[B, 3, H, W]`` whose H and W are
    positive numbers, else ``None`` (dynamic: a name, ``None`` or TensorRT's -1)."""
    h, w = shape[2], shape[3]
    fixed = all(isinstance(d, int) and d > 0 for d in (h, w))
    return (int(h), int(w)) if fixed else None


class Engine:
    """``images`` -> ``(dets, labels)``, as the exported ONNX graph defines them.

    - ``images``: float32 ``[B, 3, H, W]``, normalised as the model's data
      preprocessor does it (:func:`ssd_ext.deployment.load_inputs`).
    - ``dets``: float32 ``[B, K, 5]``, ``(x1, y1, x2, y2, score)`` per row in
      network-input pixels, sorted by score, zero rows as padding.
    - ``labels``: int64 ``[B, K]``, ``-1`` in padding rows.

    Subclasses set ``backend`` (e.g. ``'onnxruntime'``), ``precision``
    (``'fp32'``, ``'int8'``...), ``device`` and ``input_size`` (the ``(H, W)``
    the engine was built for, ``None`` if it takes any), and implement
    :meth:`__call__`.
    """

    backend = ''
    precision = 'fp32'
    device = 'cpu'
    input_size: Optional[Tuple[int, int]] = None

    def check_input_size(self, input_size: Tuple[int, int], where: str) -> None:
        """Raises, naming both sizes, unless the engine takes ``input_size``
        (what the config ``where`` resizes to)."""
        if self.input_size is not None and tuple(self.input_size) != tuple(input_size):
            raise ValueError(f'{self.name} engine takes {self.input_size[0]}x'
                             f'{self.input_size[1]} (H x W) inputs, but {where} resizes '
                             f'to {input_size[0]}x{input_size[1]}')

    @property
    def name(self) -> str:
        """Row name in reports, e.g. ``'onnxruntime int8'``."""
        return f'{self.backend} {self.precision}'

    def __call__(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
