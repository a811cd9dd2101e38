"""The data preprocessor's input normalisation as a module of the exported graph.

Its settings are read from the model config's ``data_preprocessor`` dict
(``bgr_to_rgb``/``rgb_to_bgr``, ``mean``, ``std``), the public description the
built ``DetDataPreprocessor`` was made from: the built module keeps whether it
swaps channels only in private attributes.
"""
import torch
from torch import Tensor, nn


class GraphPreprocess(nn.Module):
    """uint8 images [B, H, W, 3] to the float32 [B, 3, H, W] network input.

    Args:
        data_preprocessor: The model config's ``data_preprocessor`` dict.
        channel_order: ``'bgr'`` or ``'rgb'``, that of the uint8 input.
    """

    def __init__(self, data_preprocessor: dict, channel_order: str = 'bgr') -> None:
        super().__init__()
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        cfg = dict(data_preprocessor)
        # The preprocessor swaps channels when bgr_to_rgb/rgb_to_bgr is set; it
        # assumes the pipeline's (OpenCV, BGR) order as input.
        swap = bool(cfg.get('bgr_to_rgb', False) or cfg.get('rgb_to_bgr', False))
        self.swap_channels = swap != (channel_order == 'rgb')
        # Without mean and std the preprocessor does not normalise.
        mean, std = cfg.get('mean'), cfg.get('std')
        if mean is None:
            mean, std = [0.0], [1.0]
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32)
                             .reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32)
                             .reshape(1, -1, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        x = images.permute(0, 3, 1, 2)
        if self.swap_channels:
            x = x[:, [2, 1, 0]]
        return (x.float() - self.mean) / self.std
