"""Images for post-training quantisation: the user's own folder, or a split of
the config's dataset, preprocessed exactly as at test time."""
from typing import List, Sequence

import numpy as np
from torch import nn

from ssd_ext.deployment.verify import load_inputs
from ssd_ext.utils.images import image_files

SPLITS = ('train', 'val', 'test')  # each the config's {split}_dataloader


def split_image_files(cfg, split: str) -> List[str]:
    """Image paths of the config's ``train``/``val``/``test`` dataset, in
    dataset order (annotations are read, images are not)."""
    from mmengine.registry import init_default_scope

    from ssd_ext.registry import DATASETS
    if split not in SPLITS:
        raise ValueError(f'unknown split {split!r}; expected one of {SPLITS}')
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'the config has no {split}_dataloader for the {split!r} split')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(loader['dataset'])
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def evenly_spaced(files: Sequence[str], num: int) -> List[str]:
    """``num`` of ``files`` spread over the whole list (a dataset sorted by
    scene or class keeps its variety), all of them when ``num`` >= their count."""
    if num <= 0:
        raise ValueError(f'number of calibration images must be positive, got {num}')
    if num >= len(files):
        return list(files)
    return [files[int(i)] for i in np.linspace(0, len(files) - 1, num).round()]


def calibration_files(cfg, source: str, num: int) -> List[str]:
    """``num`` images from ``source``: a folder or image file, or a split name
    of the config (``train``, ``val``, ``test``)."""
    files = split_image_files(cfg, source) if source in SPLITS else image_files(source)
    return evenly_spaced(files, num)


def calibration_inputs(model: nn.Module, files: Sequence[str], batch_size: int = 8
                       ) -> List[np.ndarray]:
    """The network inputs (float32 ``[1, 3, H, W]`` each, one per image) of
    ``files`` through the test pipeline and the data preprocessor."""
    out = []
    for start in range(0, len(files), batch_size):
        data, _ = load_inputs(model, files[start:start + batch_size])
        out += [x[None] for x in data['inputs'].numpy()]
    return out
