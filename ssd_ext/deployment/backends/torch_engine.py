"""The PyTorch detector behind the :class:`Engine` interface: the reference
every other engine is measured against."""
from typing import Optional, Tuple

import numpy as np
import torch
from mmdet.structures import DetDataSample
from torch import nn

from ssd_ext.deployment.backends.interface import Engine


class PyTorchEngine(Engine):
    """Runs ``model.predict`` (the head's own decoding and mmcv's NMS), with
    boxes in network-input pixels, padded to ``test_cfg.max_per_img`` rows.

    Args:
        model: A built detector in eval mode (:func:`ssd_ext.apis.build_detector`).
        amp_dtype: ``'bfloat16'`` runs the network under CPU autocast (with
            ``channels_last`` and ``compiled``, the fast CPU path of
            ``tools/test.py --amp --channels-last --compile``); ``None`` is fp32.
        channels_last: Convert the network's weights and input to channels_last.
        compiled: Compile the network (:func:`ssd_ext.engine.compile.compile_network`).
    """

    backend = 'pytorch'

    def __init__(self, model: nn.Module, amp_dtype: Optional[str] = None,
                 channels_last: bool = False, compiled: bool = False) -> None:
        self.model = model.eval()
        self.device = str(next(model.parameters()).device)
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.precision = {None: 'fp32', 'bfloat16': 'bf16', 'float16': 'fp16'}[amp_dtype]
        flags = [f for f, on in (('channels_last', channels_last), ('compiled', compiled)) if on]
        if flags:
            self.precision += ' ' + '+'.join(flags)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        if compiled:
            from ssd_ext.engine.compile import compile_network
            compile_network(self.model)
        self.max_per_img = int(model.bbox_head.test_cfg.max_per_img)

    def __call__(self, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h, w = images.shape[2:]
        samples = [DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                               scale_factor=(1.0, 1.0)))
                   for _ in range(len(images))]
        device_type = 'cuda' if self.device.startswith('cuda') else 'cpu'
        with torch.no_grad(), torch.autocast(device_type, dtype=getattr(
                torch, self.amp_dtype or 'float32'), enabled=self.amp_dtype is not None):
            # Through __call__ (not .predict): a compiled network's forward
            # hooks turn Inductor's weight freezing on (compile_network).
            results = self.model(x, samples, mode='predict')
        k = self.max_per_img
        dets = np.zeros((len(images), k, 5), np.float32)
        labels = np.full((len(images), k), -1, np.int64)
        for i, r in enumerate(results):
            inst = r.pred_instances
            n = min(len(inst.scores), k)
            dets[i, :n, :4] = inst.bboxes[:n].float().cpu().numpy()
            dets[i, :n, 4] = inst.scores[:n].float().cpu().numpy()
            labels[i, :n] = inst.labels[:n].cpu().numpy()
        return dets, labels
