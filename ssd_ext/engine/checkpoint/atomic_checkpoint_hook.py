"""``CheckpointHook`` whose checkpoints and ``last_checkpoint`` survive a kill at any moment.

Rule: a checkpoint is written whole under its name (the ``'atomic_local'``
backend, the default for a local ``out_dir``), then ``last_checkpoint`` is
replaced atomically to name it, then checkpoints beyond ``max_keep_ckpts`` are
deleted, never the one the pointer names. The ids still to delete travel in the
checkpoint's message hub, so the next run finishes a deletion a kill cut short.

MMEngine 0.10.7 deletes the oldest checkpoint before saving and rewrites
``last_checkpoint`` in place, in its private save method (docs/upstream.md), so
step checkpoints are saved here, on ``CheckpointHook``'s schedule; best
checkpoints stay MMEngine's, the previous best deleted once the new one is written.
"""
import logging
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.dist import is_main_process
from mmengine.fileio import BaseStorageBackend, get_file_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, print_log

from ssd_ext.engine.checkpoint.atomic_backend import BACKEND_NAME, AtomicLocalBackend
from ssd_ext.utils.checkpoint_io import atomic_write, remove_stale_partials
from ssd_ext.registry import HOOKS

KEEP_KEY = 'keep_ckpt_ids'  # MMEngine's message hub key for the kept checkpoints
PENDING_REMOVAL_KEY = 'ckpt_ids_to_remove'
POINTER_NAME = 'last_checkpoint'


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The path ``work_dir/last_checkpoint`` names, or None."""
    try:
        with open(osp.join(work_dir, POINTER_NAME)) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def split_keep_list(ids: Sequence[int], max_keep: int) -> Tuple[List[int], List[int]]:
    """``(kept, dropped)``: the last ``max_keep`` ids and the others (all kept if <= 0)."""
    cut = max(len(ids) - max_keep, 0) if max_keep > 0 else 0
    return list(ids[cut:]), list(ids[:cut])


def best_record(message_hub: MessageHub) -> Dict[str, Any]:
    """The ``best_score*``/``best_ckpt*`` entries ``CheckpointHook`` keeps."""
    return {k: v for k, v in message_hub.runtime_info.items()
            if k.startswith(('best_score', 'best_ckpt'))}


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) saving in the module docstring's order."""

    def __init__(self, *args, **kwargs) -> None:
        if (kwargs.get('backend_args') is None and kwargs.get('file_client_args') is None
                and '://' not in str(kwargs.get('out_dir') or '')):  # MMEngine: local path
            kwargs['backend_args'] = dict(backend=BACKEND_NAME)
        super().__init__(*args, **kwargs)
        self.saved: Optional[str] = None  # the step checkpoint this process saved last

    def backend(self) -> BaseStorageBackend:
        """The backend of ``out_dir`` (MMEngine builds a new one for each use)."""
        return get_file_backend(self.out_dir, backend_args=self.backend_args)

    def checkpoint_path(self, step: int) -> str:
        """Where checkpoint ``step`` is saved."""
        return self.backend().join_path(self.out_dir, self.filename_tmpl.format(step))

    def before_train(self, runner) -> None:
        hub = runner.message_hub
        # Trimmed before MMEngine, which would delete the dropped ones unguarded.
        keep, dropped = split_keep_list(hub.get_info(KEEP_KEY, []), self.max_keep_ckpts)
        if dropped:
            hub.update_info(KEEP_KEY, keep)
        super().before_train(runner)
        if not isinstance(self.backend(), AtomicLocalBackend):
            print_log(f'{self.out_dir}: checkpoints are not written atomically (backend_args='
                      f'{self.backend_args})', logger='current', level=logging.WARNING)
        pending = hub.get_info(PENDING_REMOVAL_KEY, []) + dropped
        hub.update_info(PENDING_REMOVAL_KEY, [])
        if is_main_process():
            for directory in {self.out_dir, runner.work_dir}:
                for path in remove_stale_partials(directory):
                    runner.logger.info(f'Removed {path}, left by an interrupted save')
            self.remove_checkpoints(runner, pending)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.by_epoch and (self.every_n_train_iters(runner, self.interval, self.save_begin)
                                  or (self.save_last and self.is_last_train_iter(runner))):
            runner.logger.info(f'Saving checkpoint at {runner.iter + 1} iterations')
            self.save_iteration(runner)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and (self.every_n_epochs(runner, self.interval, self.save_begin)
                              or (self.save_last and self.is_last_train_epoch(runner))):
            runner.logger.info(f'Saving checkpoint at {runner.epoch + 1} epochs')
            self.save(runner, runner.epoch + 1, dict(epoch=runner.epoch + 1, iter=runner.iter))

    def after_val_epoch(self, runner, metrics: Dict[str, Any]) -> None:
        before = best_record(runner.message_hub)
        with AtomicLocalBackend.removals_deferred() as replaced:
            super().after_val_epoch(runner, metrics)
        # MMEngine 0.10.7 skips it while its own ``last_ckpt`` is None (docs/upstream.md):
        # the step checkpoint is saved again to record the new best.
        if self.saved is not None and best_record(runner.message_hub) != before:
            self.save(runner, runner.epoch if self.by_epoch else runner.iter,
                      dict(epoch=runner.epoch, iter=runner.iter))
        for path in set(replaced) - set(best_record(runner.message_hub).values()):
            self.backend().remove(path)  # a previous best, unless saved again as the new

    def after_train(self, runner) -> None:
        self.last_ckpt = self.saved  # what MMEngine publishes (``published_keys``)
        super().after_train(runner)

    def save_iteration(self, runner) -> str:
        """Saves the iteration just run unless it is saved already; returns the path."""
        step = runner.iter + 1
        if self.saved != self.checkpoint_path(step):
            self.save(runner, step, dict(epoch=runner.epoch, iter=step))
        return self.saved

    def save(self, runner, step: int, meta: dict) -> None:
        """Saves checkpoint ``step``, then ``last_checkpoint``, then deletes."""
        hub, dropped = runner.message_hub, []
        if self.max_keep_ckpts > 0 and hub.get_info(KEEP_KEY, [])[-1:] != [step]:
            keep, dropped = split_keep_list(hub.get_info(KEEP_KEY, []) + [step],
                                            self.max_keep_ckpts)
            hub.update_info(KEEP_KEY, keep)
        hub.update_info(PENDING_REMOVAL_KEY, dropped)  # for the next run, if killed
        path = self.checkpoint_path(step)
        hub.update_info('last_ckpt', path)
        runner.save_checkpoint(
            self.out_dir, self.filename_tmpl.format(step), self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        self.saved = path
        hub.update_info(PENDING_REMOVAL_KEY, [])
        if is_main_process():  # Runner.save_checkpoint writes on rank 0 only
            atomic_write(osp.join(runner.work_dir, POINTER_NAME), path)
            self.remove_checkpoints(runner, dropped)

    def remove_checkpoints(self, runner, steps: Iterable[int]) -> None:
        """Deletes the checkpoints of ``steps``, except the one ``last_checkpoint`` names."""
        backend, named = self.backend(), read_last_checkpoint(runner.work_dir)
        for path in map(self.checkpoint_path, steps):
            if named is not None and osp.realpath(path) == osp.realpath(named):
                runner.logger.info(f'Keeping {path}: last_checkpoint names it')
            elif backend.isfile(path):
                backend.remove(path)
            elif backend.isdir(path):  # DeepSpeed checkpoints are folders
                backend.rmtree(path)
