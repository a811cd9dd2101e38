"""Iteration-based training that resumes exactly, without loading past batches.

MMEngine 0.10.7's ``IterBasedTrainLoop`` resumes at iteration ``k`` by calling
``next()`` on the data loader ``k`` times: every past image is read, decoded and
augmented again (hours for a late COCO checkpoint), and even then the
augmentation draws differ from the original run, because the RNGs are not part
of the checkpoint. It also starts the loader's workers when it is built, before
the checkpoint is loaded. :class:`FastResumeIterBasedTrainLoop` instead

* opens its :class:`~ssd_ext.engine.resume.data_stream.DataStream` in :meth:`run`,
  after the checkpoint is loaded, right after the samples consumed before it;
* publishes its state (data position, the RNG states of the main process and
  of each DataLoader worker) in the message hub after every ``train_step``,
  before the ``after_train_iter`` hooks (about 60 us per iteration on a 2-core
  EPYC, mostly Python's RNG state). MMEngine's ``CheckpointHook`` saves the
  message hub in every checkpoint and ``Runner.resume`` restores it, so no
  extra hook is needed.

What the resumed run reproduces bit for bit (same config, same number of
workers, same machine and thread count), checked by ``tests/engine/resume``:

* the sample indices of every later iteration (for any world size);
* the main process's RNG streams: with ``num_workers=0`` the augmentation runs
  there, and model-side randomness (dropout, random sampling) always does;
* each worker's RNG streams (:mod:`ssd_ext.engine.resume.worker_rng`);
* hence the model, optimizer and scheduler states after every later iteration,
  as far as the kernels are deterministic (fp32 CPU kernels are, for a fixed
  thread count; bf16 autocast as well; CUDA only with deterministic algorithms).

What is not reproduced, and why:

* ranks other than 0 of a distributed run: MMEngine saves checkpoints on rank 0
  only, so only rank 0's RNG states are in the file; other ranks keep the seeded
  streams (their sample indices are still exact);
* a different ``num_workers`` than when the checkpoint was written: workers are
  seeded as at the start of the run (indices stay exact);
* RNG draws that ``after_train_iter`` hooks make in the checkpoint's iteration
  (none by default): the state is taken before them.

Validation runs with the training RNG streams saved and restored around it, so
training is the same whether or not validation ran before a kill. Logged
scalars (losses, lr, grad norm) match; time measurements naturally do not.
"""
import bisect
import logging
import time
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from mmengine.dataset import worker_init_fn
from mmengine.logging import print_log
from mmengine.runner import BaseLoop
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import DataLoader

from ssd_ext.engine.resume.data_stream import STATE_VERSION, DataStream
from ssd_ext.engine.resume.rng_state import get_rng_state, preserved_rng_state, set_rng_state
from ssd_ext.registry import LOOPS
from ssd_ext.utils.checkpoint import allow_mmengine_checkpoint_types

# Message hub runtime info holding the loop's state (saved with every checkpoint).
STATE_KEY = 'train_loop_state'


@LOOPS.register_module()
class FastResumeIterBasedTrainLoop(BaseLoop):
    """Iteration-based train loop that resumes without loading past data.

    Same arguments and schedule as MMEngine's ``IterBasedTrainLoop``. After a
    resume, ``resume_seconds`` holds the time spent positioning the data.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], max_iters: int,
                 val_begin: int = 1, val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        super().__init__(runner, dataloader)  # builds the loader; starts no worker
        # Built before Runner.resume loads the checkpoint: make MMEngine's
        # checkpoints loadable weights-only even in a config without
        # AllowCheckpointTypesHook.
        allow_mmengine_checkpoint_types()
        # MMEngine seeds the workers itself unless the config names a worker_init_fn.
        self.default_worker_seeding = (isinstance(dataloader, dict)
                                       and 'worker_init_fn' not in dataloader)
        self.disable_subprocess_warning = (isinstance(dataloader, dict) and bool(
            dataloader.get('disable_subprocess_warning', False)))
        if not isinstance(max_iters, (int, float)) or int(max_iters) != max_iters:
            raise ValueError(f'train_cfg.max_iters must be an integer, got {max_iters!r}')
        self._max_iters = int(max_iters)
        # ``Runner.resume`` (MMEngine 0.10.7) assigns a train loop's ``_iter``
        # and ``_epoch`` directly; these two names are that contract.
        self._iter = 0
        self._epoch = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            val_interval, dynamic_intervals)
        self.stop_training = False
        self.stream: Optional[DataStream] = None
        self.resume_seconds: Optional[float] = None
        metainfo = getattr(self.dataloader.dataset, 'metainfo', None)
        if metainfo is None:
            print_log(f'Dataset {type(self.dataloader.dataset).__name__} has no '
                      'metainfo; the visualizer gets no dataset_meta',
                      logger='current', level=logging.WARNING)
        self.runner.visualizer.dataset_meta = metainfo

    @property
    def max_epochs(self) -> int:
        return 1  # the whole run is one epoch, as in IterBasedTrainLoop

    @property
    def max_iters(self) -> int:
        return self._max_iters

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def iter(self) -> int:
        return self._iter

    def run(self):
        """Trains from the current iteration to ``max_iters``."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self.stream = self._open_stream()
        try:
            while self._iter < self._max_iters and not self.stop_training:
                self.runner.model.train()
                self.run_iter(self.stream.next())
                self._decide_current_val_interval()
                if self._validation_due():
                    # Validation must not move the training RNG streams: a resumed
                    # run does not repeat the validation of its checkpoint's iteration.
                    with preserved_rng_state():
                        self.runner.val_loop.run()
        finally:
            self.stream.close()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_iter(self, data_batch: Any) -> None:
        """One training step, with the loop state published before the
        ``after_train_iter`` hooks (among them the checkpoint hook)."""
        self.runner.call_hook('before_train_iter', batch_idx=self._iter,
                              data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        self.runner.message_hub.update_info(STATE_KEY, self.state_dict())
        self.runner.call_hook('after_train_iter', batch_idx=self._iter,
                              data_batch=data_batch, outputs=outputs)
        self._iter += 1

    def state_dict(self) -> Dict[str, Any]:
        """The data stream's state, this rank and its RNG states."""
        return dict(self.stream.state_dict(), rank=self.runner.rank, rng=get_rng_state())

    def _decide_current_val_interval(self) -> None:
        step = bisect.bisect(self.dynamic_milestones, self._iter + 1)
        self.val_interval = self.dynamic_intervals[step - 1]

    def _validation_due(self) -> bool:
        return (self.runner.val_loop is not None and self._iter >= self.val_begin
                and (self._iter % self.val_interval == 0
                     or self._iter == self._max_iters))

    def _resumed_state(self) -> Optional[Dict[str, Any]]:
        """The checkpoint's loop state, if it belongs to the resumed iteration."""
        if self._iter == 0:
            return None  # fresh start, or load_from (weights only)
        state = self.runner.message_hub.get_info(STATE_KEY)
        if state is None:
            print_log(f'The checkpoint has no {STATE_KEY} (not written by '
                      f'{type(self).__name__}): continuing the data stream at '
                      'iteration x batch size, with fresh RNG streams',
                      logger='current', level=logging.WARNING)
        elif state.get('version') != STATE_VERSION or state.get('batches') != self._iter:
            print_log(f'Ignoring {STATE_KEY} of the checkpoint: version '
                      f'{state.get("version")}, written after {state.get("batches")} '
                      f'batches, but the checkpoint resumes at iteration {self._iter}',
                      logger='current', level=logging.WARNING)
            state = None
        return state

    def _worker_seeding(self) -> Optional[Callable[[int], None]]:
        """How a worker is seeded when it has no saved state.

        MMEngine 0.10.7 builds the loader's default ``worker_init_fn`` with the
        seed of the session, before ``Runner.resume`` restores the seed of a
        run launched without a fixed one; MMEngine's public ``worker_init_fn``
        is therefore bound here again to ``runner.seed`` as it is now.
        """
        if not self.default_worker_seeding or self.dataloader.num_workers == 0:
            return self.dataloader.worker_init_fn
        return partial(worker_init_fn, num_workers=self.dataloader.num_workers,
                       rank=self.runner.rank, seed=self.runner.seed,
                       disable_subprocess_warning=self.disable_subprocess_warning)

    def _open_stream(self) -> DataStream:
        started = time.perf_counter()
        state = self._resumed_state()
        own_rng = state is not None and state.get('rank') == self.runner.rank
        if state is not None and not own_rng:
            print_log(f'Rank {self.runner.rank}: the checkpoint holds rank '
                      f'{state.get("rank")}\'s RNG states only; this rank keeps its '
                      'seeded streams', logger='current', level=logging.WARNING)
        stream = DataStream(self.dataloader, self._iter, state, restore_workers=own_rng,
                            worker_seeding=self._worker_seeding())
        # Last, so that starting the loader (it draws a base seed from torch's
        # generator) leaves the restored streams untouched, exactly as in the
        # original run where it happened before iteration 0.
        if own_rng:
            set_rng_state(state['rng'])
        if self._iter > 0:
            self.resume_seconds = time.perf_counter() - started
            how = ('loading the past batches again' if stream.loads_past_batches
                   else 'without loading any past batch')
            self.runner.logger.info(
                f'Resumed the data stream at iteration {self._iter} ({stream.samples} '
                f'samples per rank) in {self.resume_seconds:.3f} s, {how}; RNG states '
                f'{"restored" if own_rng else "not restored"}')
        return stream
