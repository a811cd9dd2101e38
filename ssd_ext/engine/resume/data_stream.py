"""The train loader's batches from any position, with what was consumed.

A :class:`DataStream` is opened once per training session, after the checkpoint
is loaded. With a :class:`~ssd_ext.engine.resume.sampler.ResumableInfiniteSampler` it
starts the sampler right after the samples consumed before the checkpoint (no
past sample is loaded; workers prefetch ahead, so the sampler's own progress is
not the position) and, with workers, starts each worker from its saved RNG
state (:mod:`ssd_ext.engine.resume.worker_rng`). Any other sampler falls back to
MMEngine's way: the past batches are loaded again, with a warning.
"""
import logging
from collections import deque
from typing import Any, Callable, Dict, Iterator, Optional

from mmengine.logging import print_log
from torch.utils.data import BatchSampler, DataLoader

from ssd_ext.engine.resume.sampler import ResumableInfiniteSampler
from ssd_ext.engine.resume.worker_rng import (RNGRestoringWorkerInit, RNGStampingCollate,
                                              StampedBatch, WorkerPlan, seeded_plan)

# Version of the dict DataStream.state_dict returns (and checkpoints hold).
STATE_VERSION = 2


def resumable_sampler(loader: DataLoader) -> Optional[ResumableInfiniteSampler]:
    """The loader's sampler if it can be started anywhere, else None.

    Only a plain ``BatchSampler`` over it with a fixed batch size maps
    ``batches`` to ``batches * batch_size`` samples.
    """
    batch_sampler = loader.batch_sampler
    sampler = getattr(batch_sampler, 'sampler', None)
    if (type(batch_sampler) is BatchSampler and loader.batch_size is not None
            and isinstance(sampler, ResumableInfiniteSampler)):
        return sampler
    return None


def with_callables(loader: DataLoader, collate_fn: Callable,
                   worker_init_fn: Optional[Callable]) -> DataLoader:
    """A new DataLoader over ``loader``'s dataset and batch sampler, with the
    same worker settings but other collate and worker-init functions.

    Built anew instead of assigning the two attributes, so that the loader the
    Runner built (and hooks read) stays as configured.
    """
    kwargs: Dict[str, Any] = dict(
        batch_sampler=loader.batch_sampler, num_workers=loader.num_workers,
        collate_fn=collate_fn, pin_memory=loader.pin_memory, timeout=loader.timeout,
        worker_init_fn=worker_init_fn, multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator, persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device)
    if loader.num_workers > 0:
        kwargs['prefetch_factor'] = loader.prefetch_factor
    if hasattr(loader, 'in_order'):  # torch >= 2.6
        kwargs['in_order'] = loader.in_order
    return DataLoader(loader.dataset, **kwargs)


class DataStream:
    """Batches of ``loader`` from batch ``batches`` of the run on.

    Args:
        loader: The train loader the Runner built.
        batches: Batches consumed before this session (the resumed iteration).
        state: What :meth:`state_dict` returned when the checkpoint was
            written, or None (fresh start, or not written by this stream).
        restore_workers: Start the workers from ``state``'s RNG states
            (False when they are another rank's).
        worker_seeding: Seeds a worker without a saved state (by worker id);
            defaults to the loader's ``worker_init_fn``.
    """

    def __init__(self, loader: DataLoader, batches: int, state: Optional[Dict[str, Any]],
                 restore_workers: bool,
                 worker_seeding: Optional[Callable[[int], None]] = None) -> None:
        self.loader = loader
        self.sampler = resumable_sampler(loader)
        self.start_batch = batches
        self.start_samples = self._position_sampler(state)
        self.worker_rng: Optional[deque] = None
        self.fetched = 0  # batches drawn in this session
        source = loader
        if self.sampler is not None and loader.num_workers > 0:
            plan = self._worker_plan(state if restore_workers else None)
            self.worker_rng = deque(plan)
            source = with_callables(loader, RNGStampingCollate(loader.collate_fn),
                                    RNGRestoringWorkerInit(worker_seeding or loader.worker_init_fn,
                                                           plan))
        self.source = source
        self.epoch = 0  # restarts of a finite loader
        # Created now: it draws the workers' base seed from torch's generator
        # (and starts them), which must happen before the RNG states are restored.
        self._batches: Optional[Iterator[Any]] = iter(source)
        if self.sampler is None and batches > 0:
            print_log(f'The train loader has no ResumableInfiniteSampler with a plain '
                      f'batch sampler; loading {batches} past batches again to resume, '
                      'as MMEngine does', logger='current', level=logging.WARNING)
            for _ in range(batches):
                self._next_batch()

    @property
    def loads_past_batches(self) -> bool:
        return self.sampler is None

    @property
    def batches(self) -> int:
        """Batches consumed since iteration 0 of the run."""
        return self.start_batch + self.fetched

    @property
    def samples(self) -> int:
        """Samples of this rank consumed since iteration 0 (with the resumable
        sampler; 0 without it)."""
        if self.sampler is None:
            return 0
        return self.start_samples + self.fetched * self.loader.batch_size

    def _position_sampler(self, state: Optional[Dict[str, Any]]) -> int:
        """Starts the sampler after the consumed samples; returns their number."""
        if self.sampler is None:
            return 0
        if self.start_batch > 0 and state is not None and state.get('sampler'):
            self.sampler.resume(state['sampler'], state['samples'])
        else:
            self.sampler.set_start(self.start_batch * self.loader.batch_size)
        return self.sampler.start

    def _worker_plan(self, state: Optional[Dict[str, Any]]) -> WorkerPlan:
        num_workers = self.loader.num_workers
        if (state is not None and state.get('num_workers') == num_workers
                and state.get('worker_rng')):
            return list(state['worker_rng'])
        if self.start_batch > 0:
            print_log('DataLoader workers start from their seeds: the checkpoint has no '
                      'worker RNG states for this rank and num_workers, so augmentation '
                      'draws differ from the original run', logger='current',
                      level=logging.WARNING)
        return seeded_plan(num_workers)

    def _next_batch(self) -> Any:
        """The source's next batch; a finite source restarts with the next
        sampler epoch (as MMEngine's iteration-based loop does)."""
        try:
            return next(self._batches)
        except StopIteration:
            self.epoch += 1
            print_log('Reached the end of the train loader; restarting it. An '
                      'infinite sampler (ResumableInfiniteSampler) avoids restarting '
                      'the workers', logger='current', level=logging.WARNING)
            sampler = getattr(self.source.batch_sampler, 'sampler', self.source.sampler)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self.epoch)
            self._batches = iter(self.source)
            return next(self._batches)

    def next(self) -> Any:
        """The next batch."""
        item = self._next_batch()
        if isinstance(item, StampedBatch):
            self._track_worker_rng(item)
            item = item.data
        self.fetched += 1
        return item

    def _track_worker_rng(self, batch: StampedBatch) -> None:
        if self.worker_rng is None:
            return
        expected = self.fetched % self.loader.num_workers
        if batch.worker_id == expected:
            self.worker_rng.popleft()
            self.worker_rng.append(dict(rng=batch.rng))
        else:
            print_log(f'Batch {self.fetched} came from worker {batch.worker_id}, not '
                      f'{expected}: worker RNG states are no longer tracked',
                      logger='current', level=logging.WARNING)
            self.worker_rng = None

    def state_dict(self) -> Dict[str, Any]:
        """Position and worker RNG states, all weights-only loadable."""
        return dict(
            version=STATE_VERSION, batches=self.batches, samples=self.samples,
            sampler=None if self.sampler is None else self.sampler.state_dict(),
            num_workers=self.loader.num_workers,
            worker_rng=None if self.worker_rng is None else list(self.worker_rng))

    def close(self) -> None:
        """Stops the workers of the loader this stream built, now (dropping the
        last reference to their iterator): left to the garbage collector,
        PyTorch's iterator can be finalised after its queues and then waits 5 s
        per worker. Without a resumable sampler the stream reads the Runner's
        own loader, whose persistent workers that loader keeps (as under
        MMEngine's loop)."""
        self._batches = self.source = None
