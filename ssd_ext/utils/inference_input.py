"""The input of inference on plain images: the config's test pipeline without
annotation loading, and the fixed ``(H, W)`` its ``Resize`` gives (what an
export reads from the config, or sets in it)."""
import copy
from typing import List, Tuple

from mmdet.utils import get_test_pipeline_cfg

RESIZE_TYPES = ('Resize', 'mmdet.Resize')


def inference_pipeline_cfg(cfg) -> List[dict]:
    """The config's test pipeline without annotation loading (inference on
    images that have none)."""
    pipeline = copy.deepcopy(get_test_pipeline_cfg(cfg))
    return [t for t in pipeline if t['type'] not in ('LoadAnnotations',
                                                     'mmdet.LoadAnnotations')]


def input_size_from_cfg(cfg) -> Tuple[int, int]:
    """``(H, W)`` the test pipeline resizes to; it must not keep the aspect
    ratio (a fixed-size ONNX input cannot reproduce that)."""
    for t in inference_pipeline_cfg(cfg):
        if t['type'] in RESIZE_TYPES:
            if t.get('keep_ratio', False):
                raise ValueError('the test pipeline resizes with keep_ratio=True; '
                                 'give --input-size H W for a fixed-size export')
            scale = t.get('scale')
            if scale is None:  # resized by scale_factor: the size depends on the image
                raise ValueError(f"the test pipeline's {t['type']} has no 'scale' "
                                 f'({t}); give --input-size H W')
            if isinstance(scale, int):
                return scale, scale
            return int(scale[1]), int(scale[0])  # mmcv scales are (w, h)
    raise ValueError('no Resize in the test pipeline; give --input-size H W')


def set_input_size(cfg, input_size: Tuple[int, int]) -> None:
    """Makes the test pipeline resize to ``(H, W)`` without keeping the
    aspect ratio (what an export at that size expects)."""
    h, w = input_size
    for t in get_test_pipeline_cfg(cfg):
        if t['type'] in RESIZE_TYPES:
            t.update(scale=(int(w), int(h)), keep_ratio=False)
            return
    raise ValueError('no Resize in the test pipeline')
