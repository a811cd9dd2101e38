"""What every deployed detector offers: one call from network input to
fixed-shape detections, so evaluation, comparison, timing and the video demo
treat PyTorch, ONNX Runtime, OpenVINO and TensorRT alike."""
from typing import Tuple

import numpy as np


class Engine:
    """``images`` -> ``(dets, labels)``, as the exported ONNX graph defines them.

    - ``images``: float32 ``[B, 3, H, W]``, normalised as the model's data
      preprocessor does it (:func:`ssd_ext.deployment.load_inputs`).
    - ``dets``: float32 ``[B, K, 5]``, ``(x1, y1, x2, y2, score)`` per row in
      network-input pixels, sorted by score, zero rows as padding.
    - ``labels``: int64 ``[B, K]``, ``-1`` in padding rows.

    Subclasses set ``backend`` (e.g. ``'onnxruntime'``), ``precision``
    (``'fp32'``, ``'int8'``...) and ``device``, and implement :meth:`__call__`.
    """

    backend = ''
    precision = 'fp32'
    device = 'cpu'

    @property
    def name(self) -> str:
        """Row name in reports, e.g. ``'onnxruntime int8'``."""
        return f'{self.backend} {self.precision}'

    def __call__(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError
