"""Iteration-based training that resumes exactly, without re-loading past batches.

MMEngine 0.10.7's ``IterBasedTrainLoop`` resumes at iteration ``k`` by calling
``next()`` on the data loader ``k`` times: every past image is read, decoded and
augmented again (hours for a late COCO checkpoint), and even then the
augmentation draws differ from the original run, because the RNGs are not part
of the checkpoint. :class:`FastResumeIterBasedTrainLoop` instead

* starts a :class:`~ssd_ext.engine.sampler.ResumableInfiniteSampler` right after
  the samples the loop had *consumed* when the checkpoint was written (workers
  prefetch ahead, so the sampler's own progress is not the position), so no
  past sample is loaded;
* saves and restores the RNG states that the data pipeline and the model draw
  from (python ``random``, NumPy, torch, CUDA), both in the main process and in
  each DataLoader worker;
* creates the data loader iterator (which starts the workers) only in
  :meth:`run`, after the checkpoint is loaded, instead of when the loop is built.

What the resumed run reproduces bit for bit (same config, same number of
workers, same machine and thread count), checked by ``tests/engine``:

* the sample indices of every later iteration (for any world size);
* the main process's RNG streams: with ``num_workers=0`` the augmentation runs
  there, and model-side randomness (dropout, random sampling) always does;
* each worker's RNG streams. Batch ``b`` goes to worker ``b % num_workers``
  (PyTorch's in-order round robin) and a worker's state after producing batch
  ``b`` is its state before batch ``b + num_workers``. Every batch therefore
  carries its worker's RNG state (collated in the worker), the loop keeps the
  states of the last ``num_workers`` consumed batches, and a resumed worker
  ``i`` starts from the state that was going to produce batch ``k + i``;
* hence the model, optimizer and scheduler states after every later iteration,
  as far as the kernels are deterministic (fp32 CPU kernels are, for a fixed
  thread count; bf16 autocast as well; CUDA only with deterministic algorithms).

What is not reproduced, and why:

* ranks other than 0 of a distributed run: MMEngine saves checkpoints on rank 0
  only, so only rank 0's RNG states are in the file; other ranks keep the seeded
  streams (their sample indices are still exact);
* a different ``num_workers`` than when the checkpoint was written: worker
  streams are reseeded as at the start of training (indices stay exact);
* RNG draws that hooks of lower priority than the checkpoint hook make in
  ``after_train_iter`` of the checkpoint's iteration (none by default).

Validation runs with the training RNG streams saved and restored around it, so
training is the same whether or not validation ran before a kill. Logged
scalars (losses, lr, grad norm) match; time measurements naturally do not.

Samplers other than :class:`ResumableInfiniteSampler` (or a custom batch sampler)
fall back to MMEngine's behaviour: past batches are re-loaded, with a warning.
"""
import logging
import time
from collections import deque
from functools import partial
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import BatchSampler, DataLoader, get_worker_info

from mmdet.registry import HOOKS, LOOPS
from ssd_ext.engine.rng_state import get_rng_state, preserved_rng_state, set_rng_state
from ssd_ext.engine.sampler import ResumableInfiniteSampler

STATE_KEY = 'train_loop_state'
STATE_VERSION = 1


class _StampedBatch(NamedTuple):
    """A collated batch with the RNG state its worker has after producing it."""
    data: Any
    worker_id: int
    rng: Dict[str, Any]


class _RNGStampingCollate:
    """Runs in the worker: collates, then attaches the worker's RNG state."""

    def __init__(self, collate_fn) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: Sequence[Any]) -> _StampedBatch:
        data = self.collate_fn(samples)
        info = get_worker_info()
        return _StampedBatch(data, -1 if info is None else info.id,
                             get_rng_state(include_cuda=False))


class _RNGRestoringWorkerInit:
    """Worker init: seeds as the original init did, then restores a saved state.

    ``plan[i]`` is ``{'rng': state}`` (restore it) or ``{'seed_worker_id': j}``
    (seed as original worker ``j`` was at the start of its session).
    """

    def __init__(self, worker_init_fn, plan: List[Dict[str, Any]]) -> None:
        self.worker_init_fn = worker_init_fn
        self.plan = plan

    def __call__(self, worker_id: int) -> None:
        entry = self.plan[worker_id]
        if self.worker_init_fn is not None:
            self.worker_init_fn(entry.get('seed_worker_id', worker_id))
        if 'rng' in entry:
            set_rng_state(entry['rng'])


@HOOKS.register_module()
class FastResumeStateHook(Hook):
    """Puts :class:`FastResumeIterBasedTrainLoop`'s state into checkpoints.

    The loop registers it itself when it is missing.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        loop = getattr(runner, '_train_loop', None)
        if isinstance(loop, FastResumeIterBasedTrainLoop) and loop.started:
            checkpoint[STATE_KEY] = loop.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        loop = getattr(runner, '_train_loop', None)
        if isinstance(loop, FastResumeIterBasedTrainLoop):
            loop.load_state_dict(checkpoint.get(STATE_KEY))


@LOOPS.register_module()
class FastResumeIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that resumes without re-loading data; see the module doc.

    Same arguments as ``IterBasedTrainLoop``. After a resume, ``resume_seconds``
    holds the time spent positioning the data stream.
    """

    def __init__(
            self,
            runner,
            dataloader: Union[DataLoader, Dict],
            max_iters: int,
            val_begin: int = 1,
            val_interval: int = 1000,
            dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        # IterBasedTrainLoop.__init__ minus ``iter(dataloader)``, which would
        # start the workers (and their prefetching from sample 0, with fresh
        # seeds) before the checkpoint is loaded.
        BaseLoop.__init__(self, runner, dataloader)
        self._max_iters = int(max_iters)
        assert self._max_iters == max_iters, \
            f'`max_iters` should be a integer number, but get {max_iters}'
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        else:
            print_log(f'Dataset {self.dataloader.dataset.__class__.__name__} has no '
                      'metainfo. ``dataset_meta`` in visualizer will be None.',
                      logger='current', level=logging.WARNING)
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)

        self.dataloader_iterator = None  # created by run()
        self.resume_seconds: Optional[float] = None
        self._batches_consumed = 0   # next() calls on the data stream since iter 0
        self._samples_consumed = 0   # samples of this rank in those batches
        self._fetched = 0            # batches drawn from the current iterator
        self._loaded_state: Optional[Dict[str, Any]] = None
        self._worker_rng: Optional[deque] = None  # states for the next batches
        self._rng_outside_val: Optional[Dict[str, Any]] = None
        if not any(isinstance(h, FastResumeStateHook) for h in runner.hooks):
            runner.register_hook(FastResumeStateHook())

    # -- state -------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self.dataloader_iterator is not None

    @property
    def sampler(self) -> Optional[ResumableInfiniteSampler]:
        """The resumable sampler, or None when the fast path is unavailable."""
        batch_sampler = getattr(self.dataloader, 'batch_sampler', None)
        sampler = getattr(batch_sampler, 'sampler', None)
        if (type(batch_sampler) is BatchSampler
                and isinstance(sampler, ResumableInfiniteSampler)
                and self.dataloader.batch_size is not None):
            return sampler
        return None

    def state_dict(self) -> Dict[str, Any]:
        """Data stream position and RNG states, all weights-only loadable."""
        sampler = self.sampler
        return dict(
            version=STATE_VERSION,
            batches=self._batches_consumed,
            samples=self._samples_consumed,
            sampler=None if sampler is None else sampler.state_dict(),
            rank=self.runner.rank,
            seed=self.runner.seed,
            # during validation: the training streams as they were before it
            rng=self._rng_outside_val or get_rng_state(),
            num_workers=self.dataloader.num_workers,
            worker_rng=None if self._worker_rng is None else list(self._worker_rng))

    def load_state_dict(self, state: Optional[Dict[str, Any]]) -> None:
        """Kept until :meth:`run`: only a resume (not ``load_from``) applies it."""
        self._loaded_state = state

    # -- running -----------------------------------------------------------

    def run(self) -> None:
        """Launch training."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self._start_data_stream()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()

            data_batch = self._next_batch()
            self.run_iter(data_batch)

            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                # Validation must not move the training RNG streams: a resumed
                # run does not repeat the validation of its checkpoint's iteration.
                with preserved_rng_state() as training_rng:
                    self._rng_outside_val = training_rng
                    try:
                        self.runner.val_loop.run()
                    finally:
                        self._rng_outside_val = None

        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def _usable_state(self) -> Optional[Dict[str, Any]]:
        state, self._loaded_state = self._loaded_state, None
        if self._iter == 0:
            return None  # fresh start, or load_from (weights only)
        if state is None:
            print_log(f'The checkpoint has no {STATE_KEY} (not written by '
                      f'{type(self).__name__}): continuing the data stream at '
                      f'iteration x batch size, with fresh RNG streams',
                      logger='current', level=logging.WARNING)
            return None
        if state.get('version') != STATE_VERSION or state.get('batches') != self._iter:
            print_log(f'Ignoring {STATE_KEY} of the checkpoint: it was written after '
                      f'{state.get("batches")} batches but the checkpoint resumes at '
                      f'iteration {self._iter}', logger='current', level=logging.WARNING)
            return None
        return state

    def _start_data_stream(self) -> None:
        """Positions the sampler, restores RNG states and starts the workers."""
        started = time.perf_counter()
        state = self._usable_state()
        own_rng = state is not None and state.get('rank') == self.runner.rank
        if state is not None and not own_rng:
            print_log(f'Rank {self.runner.rank}: the checkpoint holds rank '
                      f'{state.get("rank")}\'s RNG states only; this rank keeps its '
                      'seeded streams', logger='current', level=logging.WARNING)
        loader = self.dataloader
        sampler = self.sampler
        num_workers = loader.num_workers
        if sampler is not None:
            if self._iter > 0 and state is not None and state.get('sampler'):
                sampler.resume(state['sampler'], state['samples'])
            else:
                sampler.set_start(self._iter * loader.batch_size)
            self._samples_consumed = sampler.start
        elif self._iter > 0:
            print_log(f'{type(self).__name__}: the train dataloader has no '
                      'ResumableInfiniteSampler with a plain batch sampler; '
                      f're-loading {self._iter} batches to resume, as MMEngine does',
                      logger='current', level=logging.WARNING)

        init_fn = loader.worker_init_fn
        if (state is not None and own_rng and isinstance(init_fn, partial)
                and 'seed' in init_fn.keywords and state.get('seed') is not None
                and init_fn.keywords['seed'] != state['seed']):
            # the run was launched without a fixed seed: seed workers as before
            init_fn = partial(init_fn.func, *init_fn.args,
                              **dict(init_fn.keywords, seed=state['seed']))

        self._worker_rng = None
        collate_fn = loader.collate_fn
        if sampler is not None and num_workers > 0:
            plan = None
            if own_rng and state.get('num_workers') == num_workers and state.get('worker_rng'):
                plan = list(state['worker_rng'])
            elif self._iter > 0:
                print_log('DataLoader workers start from their seeds: the checkpoint '
                          'has no worker RNG states for this rank and num_workers, so '
                          'augmentation draws differ from the original run',
                          logger='current', level=logging.WARNING)
            if plan is None:
                plan = [dict(seed_worker_id=i) for i in range(num_workers)]
            self._worker_rng = deque(plan)
            loader.collate_fn = _RNGStampingCollate(collate_fn)
            loader.worker_init_fn = _RNGRestoringWorkerInit(init_fn, plan)
        else:
            loader.worker_init_fn = init_fn
        try:
            # The iterator captures both callables (and starts the workers).
            self.dataloader_iterator = _InfiniteDataloaderIterator(loader)
        finally:
            loader.collate_fn, loader.worker_init_fn = collate_fn, init_fn
        self._fetched = 0

        if sampler is None and self._iter > 0:
            for _ in range(self._iter):
                next(self.dataloader_iterator)
        self._batches_consumed = self._iter
        # Last, so that creating the iterator above (it draws a base seed from
        # torch's generator) leaves the restored streams untouched, exactly as
        # in the original run where it happened before iteration 0.
        if own_rng:
            set_rng_state(state['rng'])
        if self._iter > 0:
            self.resume_seconds = time.perf_counter() - started
            how = ('re-loading past batches' if sampler is None else
                   'without loading any past batch')
            self.runner.logger.info(
                f'Resumed the data stream at iteration {self._iter} '
                f'({self._samples_consumed} samples per rank) in '
                f'{self.resume_seconds:.3f} s, {how}; RNG states '
                f'{"restored" if own_rng else "not restored"}')

    def _next_batch(self) -> Any:
        item = next(self.dataloader_iterator)
        if isinstance(item, _StampedBatch):
            if self._worker_rng is not None:
                expected = self._fetched % self.dataloader.num_workers
                if item.worker_id == expected:
                    self._worker_rng.popleft()
                    self._worker_rng.append(dict(rng=item.rng))
                else:
                    print_log(f'Batch {self._fetched} came from worker {item.worker_id}, '
                              f'not {expected}: worker RNG states are no longer tracked',
                              logger='current', level=logging.WARNING)
                    self._worker_rng = None
            item = item.data
        elif self._worker_rng is not None:  # the loader was re-created unwrapped
            self._worker_rng = None
        self._fetched += 1
        self._batches_consumed += 1
        if self.sampler is not None:
            self._samples_consumed += self.dataloader.batch_size
        return item
