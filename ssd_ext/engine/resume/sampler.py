"""The training sample stream: position ``p`` of the global stream names a dataset
index and, through :mod:`~ssd_ext.engine.resume.sample_seeds`, its random draws.

The index at ``p`` is ``InfiniteSampler``'s: consecutive permutations of the
dataset drawn from one ``torch.Generator`` seeded with ``seed``; rank ``r`` of
``w`` takes positions ``r, r + w, r + 2w, ...``. So iteration ``i`` of any world
size with global batch ``B`` trains on positions ``[i * B, (i + 1) * B)``.
"""
import itertools
from typing import Iterator, Optional, Sized

import torch
from mmengine.dataset import InfiniteSampler

from ssd_ext.registry import DATA_SAMPLERS


class SampleIndex(int):
    """A dataset index that knows its global stream ``position``; any dataset
    takes it as the index."""

    def __new__(cls, index: int, position: int) -> 'SampleIndex':
        self = super().__new__(cls, index)
        self.position = position
        return self

    def __reduce__(self):  # to DataLoader workers with its position
        return SampleIndex, (int(self), self.position)


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(InfiniteSampler):
    """Yields this rank's :class:`SampleIndex` es from its ``start``-th on;
    skipping costs one ``randperm`` per pass and no data loading.

    Every ``__iter__`` begins afresh at ``start`` (set by the training loop,
    which knows what was consumed; DataLoader workers prefetch ahead).

    Args:
        dataset: The dataset.
        shuffle: Shuffle each pass. Defaults to True.
        seed: Seed of the permutations; None draws one shared by all ranks.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Next ``__iter__`` skips the first ``start`` pairs of this rank."""
        if start < 0:
            raise ValueError(f'start must be >= 0, got {start}')
        self.start = int(start)

    def __iter__(self) -> Iterator[SampleIndex]:
        first = self.rank + self.start * self.world_size
        indices = itertools.islice(self._indices_from(first), 0, None, self.world_size)
        return map(SampleIndex, indices, itertools.count(first, self.world_size))

    def _indices_from(self, position: int) -> Iterator[int]:
        """The global index stream from ``position`` on."""
        passes, offset = divmod(position, self.size)
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        if self.shuffle:
            for _ in range(passes):  # skipped passes: only their permutations are drawn
                torch.randperm(self.size, generator=generator)
        while True:
            if self.shuffle:
                order = torch.randperm(self.size, generator=generator).tolist()
            else:
                order = list(range(self.size))
            yield from order[offset:]
            offset = 0
