"""Every random draw of training is a pure function of (seed, position).

Before sample ``p`` of the stream is loaded, Python's ``random``, NumPy's global
generator and torch's are seeded from ``(seed, SAMPLE, p)``, whichever worker
or process loads it; before iteration ``i`` runs, from ``(seed, ITERATION, i)``
(model-side randomness). A resumed run therefore needs no RNG state, and the
number of DataLoader workers or processes does not change what is drawn.
"""
import random
from typing import Any, Dict, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ssd_ext.registry import DATASETS

# The two streams seeded from one run seed.
SAMPLE, ITERATION = 0, 1


def seed_everything(seed: int, stream: int, position: int) -> None:
    """Seeds ``random``, ``np.random`` and torch (CPU and CUDA) for ``position``
    of ``stream``; distinct positions get independent streams (``SeedSequence``)."""
    words = np.random.SeedSequence([seed % 2**64, stream, position]).generate_state(
        4, dtype=np.uint32)
    random.seed(int(words[0]) << 32 | int(words[1]))
    np.random.seed(words[2])
    torch.manual_seed(int(words[3]) << 32 | int(words[0]))


@DATASETS.register_module()
class SeededSampleDataset(Dataset):
    """``dataset`` indexed by the sampler's ``SampleIndex`` es: each sample is
    loaded right after :func:`seed_everything` for its ``position``.

    Attributes other than the sample access (``metainfo``, counters, ...) are
    the wrapped dataset's.

    Args:
        dataset: The dataset, or its config.
        seed: The run seed; the training loop sets it before the first sample.
    """

    def __init__(self, dataset: Union[Dataset, Dict[str, Any]], seed: int = 0) -> None:
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.seed = seed

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        position = getattr(index, 'position', None)
        if position is None:
            raise TypeError(f'SeededSampleDataset is indexed by the SampleIndex of '
                            f'ResumableInfiniteSampler, got {index!r}')
        seed_everything(self.seed, SAMPLE, position)
        return self.dataset[index]

    def __getattr__(self, name: str) -> Any:
        if name == 'dataset':  # not yet set (while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
