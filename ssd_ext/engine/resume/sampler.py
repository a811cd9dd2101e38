"""An ``InfiniteSampler`` that can start anywhere in its stream without loading data."""
import itertools
import logging
from typing import Any, Dict, Iterator, Optional, Sized

import torch
from mmengine.dataset import InfiniteSampler
from mmengine.logging import print_log

from ssd_ext.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(InfiniteSampler):
    """MMEngine's ``InfiniteSampler`` stream, startable at any position.

    The index stream is exactly ``InfiniteSampler``'s: consecutive permutations
    of the dataset drawn from one ``torch.Generator`` seeded with ``seed`` (or
    ``0..n-1`` repeated without shuffling), of which rank ``r`` of ``w`` takes
    every ``w``-th index from the ``r``-th. :meth:`set_start` makes the next
    ``__iter__`` begin after ``start`` indices of this rank; skipping costs one
    ``randperm`` per skipped pass over the dataset and no data loading.

    Unlike ``InfiniteSampler`` (which continues one shared generator), every
    ``__iter__`` starts afresh at the start position. The position of a run is
    kept by the training loop, which knows how many samples it *consumed*; the
    sampler itself only knows how many indices it handed to DataLoader workers,
    which prefetch ahead. See
    :class:`~ssd_ext.engine.resume.data_stream.DataStream`.

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
        """Next ``__iter__`` skips the first ``start`` indices of this rank."""
        if start < 0:
            raise ValueError(f'start must be >= 0, got {start}')
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        yield from self.indices_from(self.start)

    def indices_from(self, start: int) -> Iterator[int]:
        """This rank's indices from position ``start`` of its stream on."""
        # Position ``start`` of this rank is position rank + start * world_size
        # of the global stream.
        passes, offset = divmod(self.rank + start * self.world_size, self.size)
        generator = torch.Generator()
        generator.manual_seed(self.seed)
        if self.shuffle:
            for _ in range(passes):  # advance the generator as those passes did
                torch.randperm(self.size, generator=generator)

        def stream() -> Iterator[int]:
            first = offset
            while True:
                if self.shuffle:
                    order = torch.randperm(self.size, generator=generator).tolist()
                else:
                    order = list(range(self.size))
                yield from order[first:]
                first = 0

        return itertools.islice(stream(), 0, None, self.world_size)

    def state_dict(self) -> Dict[str, Any]:
        """What identifies the stream (not the position: the loop keeps that)."""
        return dict(seed=int(self.seed), shuffle=bool(self.shuffle),
                    size=int(self.size), world_size=int(self.world_size))

    def resume(self, state: Dict[str, Any], consumed: int) -> None:
        """Continues the stream ``state`` describes after ``consumed`` samples per rank.

        The seed is taken from ``state`` (a run without a fixed seed draws a new
        one each launch). A changed world size keeps the global position where
        it divides evenly; a changed dataset size cannot reproduce the order and
        is only warned about.
        """
        if state.get('seed') is not None and state['seed'] != self.seed:
            print_log(f'{type(self).__name__}: using the resumed stream seed '
                      f'{state["seed"]} instead of {self.seed}', logger='current')
            self.seed = int(state['seed'])
        if state.get('shuffle', self.shuffle) != self.shuffle or \
                state.get('size', self.size) != self.size:
            print_log(f'{type(self).__name__}: the dataset or shuffle setting changed '
                      f'since the checkpoint ({state} vs {self.state_dict()}); the '
                      'sample order after resuming differs from the original run',
                      logger='current', level=logging.WARNING)
        old_world = state.get('world_size', self.world_size)
        if old_world != self.world_size:
            global_pos = consumed * old_world
            consumed = global_pos // self.world_size
            print_log(f'{type(self).__name__}: world size changed from {old_world} to '
                      f'{self.world_size}; continuing at global position '
                      f'{consumed * self.world_size} of {global_pos}',
                      logger='current', level=logging.WARNING)
        self.set_start(consumed)
