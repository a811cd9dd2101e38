"""Iteration-based training whose state is the checkpoint plus one seed.

Training state is (weights, optimizer, scheduler, loss scaler, the global
sample position, the seed): every random draw is a function of the seed and a
position (:mod:`~ssd_ext.engine.resume.sample_seeds`), so a resumed run starts
the sampler at ``iteration * global batch`` and loads no past sample. It ends
bit-identical to the uninterrupted run for any ``num_workers``; another number
of processes with the same global batch trains on the same samples and draws
(docs/reliability.md); a changed global batch is refused. Validation cannot
move training's random streams: each iteration is seeded anew.
"""
import bisect
import logging
from typing import Any, Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner import BaseLoop
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import DataLoader

from ssd_ext.engine.resume.sample_seeds import ITERATION, SeededSampleDataset, seed_everything
from ssd_ext.engine.resume.sampler import ResumableInfiniteSampler
from ssd_ext.registry import LOOPS

# Message hub runtime info holding the loop's state (saved with every checkpoint).
STATE_KEY = 'train_loop_state'
STATE_VERSION = 3


def seeded_loader_cfg(dataloader: Dict[str, Any]) -> Dict[str, Any]:
    """``dataloader`` with its dataset wrapped in :class:`SeededSampleDataset`.

    One iterator of the infinite sampler serves a whole run, so persistent
    workers gain nothing; without them, the workers stop when the loop drops
    its iterator (a worker blocks SIGTERM under ``PreemptionHook``, so it
    cannot be left to the interpreter's exit).
    """
    return dict(dataloader, persistent_workers=False,
                dataset=dict(type='SeededSampleDataset', dataset=dataloader['dataset']))


@LOOPS.register_module()
class FastResumeIterBasedTrainLoop(BaseLoop):
    """Same arguments and schedule as MMEngine's ``IterBasedTrainLoop``; the
    train loader's sampler must be :class:`ResumableInfiniteSampler`."""

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], max_iters: int,
                 val_begin: int = 1, val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        if isinstance(dataloader, dict):
            dataloader = seeded_loader_cfg(dataloader)
        super().__init__(runner, dataloader)  # builds the loader; starts no worker
        sampler = getattr(self.dataloader.batch_sampler, 'sampler', self.dataloader.sampler)
        if not isinstance(sampler, ResumableInfiniteSampler):
            raise ValueError(f'FastResumeIterBasedTrainLoop needs train_dataloader.sampler '
                             f'of type ResumableInfiniteSampler, got {type(sampler).__name__} '
                             "(MMEngine's IterBasedTrainLoop takes other samplers)")
        if not isinstance(self.dataloader.dataset, SeededSampleDataset):
            raise ValueError('FastResumeIterBasedTrainLoop needs a DataLoader over a '
                             'SeededSampleDataset; pass the train_dataloader config instead')
        if not isinstance(max_iters, (int, float)) or int(max_iters) != max_iters:
            raise ValueError(f'train_cfg.max_iters must be an integer, got {max_iters!r}')
        self._max_iters = int(max_iters)
        # MMEngine 0.10.7: Runner.resume assigns _iter and _epoch directly (docs/upstream.md).
        self._iter = 0
        self._epoch = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            val_interval, dynamic_intervals)
        self.stop_training = False
        self.runner.visualizer.dataset_meta = getattr(self.dataloader.dataset, 'metainfo',
                                                      None)

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

    @property
    def sampler(self) -> ResumableInfiniteSampler:
        return self.dataloader.batch_sampler.sampler

    @property
    def global_batch(self) -> int:
        return self.dataloader.batch_size * self.runner.world_size

    def run(self):
        """Trains from the current iteration to ``max_iters``."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self._position_data()
        batches = iter(self.dataloader)
        try:
            while self._iter < self._max_iters and not self.stop_training:
                self.runner.model.train()
                self.run_iter(next(batches))
                self._decide_current_val_interval()
                if self._validation_due():
                    self.runner.val_loop.run()
        finally:
            del batches  # stops the workers, also when training failed
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_iter(self, data_batch: Any) -> None:
        """One training step, seeded by its iteration; the loop state is
        published before the ``after_train_iter`` hooks (the checkpoint hook)."""
        seed_everything(self.sampler.seed, ITERATION, self._iter)
        self.runner.call_hook('before_train_iter', batch_idx=self._iter,
                              data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        self.runner.message_hub.update_info(STATE_KEY, self.state_dict())
        self.runner.call_hook('after_train_iter', batch_idx=self._iter,
                              data_batch=data_batch, outputs=outputs)
        self._iter += 1

    def state_dict(self) -> Dict[str, Any]:
        return dict(version=STATE_VERSION, seed=int(self.sampler.seed),
                    global_batch=self.global_batch)

    def _decide_current_val_interval(self) -> None:
        step = bisect.bisect(self.dynamic_milestones, self._iter + 1)
        self.val_interval = self.dynamic_intervals[step - 1]

    def _validation_due(self) -> bool:
        return (self.runner.val_loop is not None and self._iter >= self.val_begin
                and (self._iter % self.val_interval == 0
                     or self._iter == self._max_iters))

    def _position_data(self) -> None:
        """Seeds the stream and starts the sampler after the consumed samples."""
        state = self.runner.message_hub.get_info(STATE_KEY) if self._iter else None
        if self._iter and (state is None or state.get('version') != STATE_VERSION):
            print_log(f'The checkpoint has no {STATE_KEY} of version {STATE_VERSION} '
                      f'(not written by this loop): continuing the data stream at '
                      f'iteration x global batch with seed {self.runner.seed}',
                      logger='current', level=logging.WARNING)
            state = dict(seed=self.runner.seed, global_batch=self.global_batch)
        if state is not None:
            if state['global_batch'] != self.global_batch:
                raise ValueError(
                    f'Cannot resume at iteration {self._iter}: the checkpoint was trained '
                    f'with a global batch of {state["global_batch"]} samples, this run has '
                    f'{self.global_batch} ({self.runner.world_size} processes x '
                    f'batch_size {self.dataloader.batch_size}); keep processes x '
                    'batch_size unchanged')
            self.sampler.seed = state['seed']
        self.dataloader.dataset.seed = self.sampler.seed
        self.sampler.set_start(self._iter * self.dataloader.batch_size)
        if self._iter:
            self.runner.logger.info(
                f'Resumed the data stream at iteration {self._iter} (global sample '
                f'{self._iter * self.global_batch}, seed {self.sampler.seed}) without '
                'loading any past sample')
