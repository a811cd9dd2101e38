"""SSD box encoding: centre/size offsets relative to a prior, scaled by variances.

``encode(gt, prior) = ((gx - px) / pw / v0, (gy - py) / ph / v1,
log(gw / pw) / v2, log(gh / ph) / v3)``, the paper's regression target. Boxes are
``(x1, y1, x2, y2)`` in pixels; widths are ``x2 - x1`` (no Caffe ``+1``).
"""
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

# Bounds exp() of predicted log-sizes so an untrained head cannot overflow.
MAX_LOG_RATIO = math.log(1000.0 / 16)


def _center_size(boxes: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Corners ``[..., 4]`` -> centre x, centre y, width, height, each ``[...]``."""
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


class BoxCoder:
    """Encodes boxes against priors and decodes regressions back to boxes.

    Args:
        variances: ``(v_x, v_y, v_w, v_h)``; the paper's ``(0.1, 0.1, 0.2, 0.2)``.
    """

    def __init__(self, variances: Sequence[float] = (0.1, 0.1, 0.2, 0.2)) -> None:
        if len(variances) != 4 or any(v <= 0 for v in variances):
            raise ValueError(f'variances must be 4 positive numbers, got {variances!r}')
        self.variances = tuple(float(v) for v in variances)

    def encode(self, boxes: Tensor, priors: Tensor) -> Tensor:
        """Tensor[..., 4] targets for ``boxes`` and ``priors`` (both ``[..., 4]``)."""
        gx, gy, gw, gh = _center_size(boxes)
        px, py, pw, ph = _center_size(priors)
        v0, v1, v2, v3 = self.variances
        return torch.stack([(gx - px) / pw / v0, (gy - py) / ph / v1,
                            torch.log(gw / pw) / v2, torch.log(gh / ph) / v3], -1)

    def decode(self, deltas: Tensor, priors: Tensor,
               max_shape: Optional[Tensor] = None) -> Tensor:
        """Boxes ``[..., 4]`` from regressions and priors, optionally clipped.

        Args:
            deltas: Tensor[..., 4], encodings as :meth:`encode` makes them.
            priors: Tensor[..., 4] broadcastable to ``deltas``. Boxes come out
                in the promoted dtype of the two: pass float32 (fp16 spacing
                is 0.25 px at 300, see ``candidates.decode_candidates``).
            max_shape: Tensor[..., 2] of ``(h, w)`` broadcastable to the boxes'
                batch dimensions; boxes are clipped to ``[0, w] x [0, h]``.
        """
        px, py, pw, ph = _center_size(priors)
        v0, v1, v2, v3 = self.variances
        dw = (deltas[..., 2] * v2).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
        dh = (deltas[..., 3] * v3).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
        cx = px + deltas[..., 0] * v0 * pw
        cy = py + deltas[..., 1] * v1 * ph
        half_w = 0.5 * pw * dw.exp()
        half_h = 0.5 * ph * dh.exp()
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], -1)
        if max_shape is not None:
            zero = boxes.new_zeros(())
            h = max_shape[..., 0:1].to(boxes.dtype)
            w = max_shape[..., 1:2].to(boxes.dtype)
            limit = torch.cat([w, h, w, h], -1)
            boxes = torch.maximum(torch.minimum(boxes, limit), zero)
        return boxes
