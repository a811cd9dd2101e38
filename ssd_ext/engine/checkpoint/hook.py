"""``CheckpointHook`` whose checkpoints survive a kill at any moment of a save.

MMEngine 0.10.7 writes a checkpoint straight into its final file, then rewrites
``work_dir/last_checkpoint`` in place, and with ``max_keep_ckpts`` deletes the
oldest checkpoint *before* writing the new one. A kill during a save can
therefore leave a truncated ``iter_N.pth``, an empty ``last_checkpoint``, or
(with ``max_keep_ckpts=1``) a pointer to a checkpoint that was already deleted;
``--resume`` then fails.

:class:`AtomicCheckpointHook` keeps MMEngine's behaviour, arguments and file
names but orders every step so that the previous checkpoint and the pointer
stay valid:

1. the checkpoint is written through the ``'atomic_local'`` file backend
   (:mod:`ssd_ext.engine.checkpoint.atomic_backend`): a partial file beside the target,
   fsynced and renamed over ``iter_N.pth``;
2. ``last_checkpoint`` is replaced atomically the same way, and only after 1;
3. only then are checkpoints beyond ``max_keep_ckpts`` deleted, and never the
   one ``last_checkpoint`` names. The ids still to delete are stored in the
   checkpoint's message hub, so a kill between 2 and 3 is cleaned up by the next
   run instead of leaking a file; stale partial files are removed at start.

Best checkpoints (``save_best``) go through the same backend, so they are
written atomically too. MMEngine deletes the previous best file before writing
the new one; here that deletion only sets the file aside
(:meth:`AtomicLocalBackend.removals_set_aside`) until the new one is written,
and the next run puts back a file a kill left aside.

Only local paths are handled this way: for remote storage (``s3://``,
``petrel://``...), or with ``backend_args``/``file_client_args`` of another
backend, the hook warns and is exactly ``CheckpointHook``.
"""
import logging
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ssd_ext.engine.checkpoint.atomic_backend import (BACKEND_NAME, AtomicLocalBackend,
                                                      restore_set_aside)
from ssd_ext.engine.checkpoint.atomic_io import remove_stale_partials
from ssd_ext.registry import HOOKS
from ssd_ext.utils.checkpoint import allow_mmengine_checkpoint_types

# Message hub runtime info. KEEP_KEY is MMEngine's own key, so that the keep list
# carries over between CheckpointHook and this hook; PENDING_REMOVAL_KEY holds the
# ids dropped from it whose files are still to be deleted (module docstring, step 3).
KEEP_KEY = 'keep_ckpt_ids'
PENDING_REMOVAL_KEY = 'ckpt_ids_to_remove'
POINTER_NAME = 'last_checkpoint'


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The path ``work_dir/last_checkpoint`` names, or None."""
    try:
        with open(osp.join(work_dir, POINTER_NAME)) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def best_record(runner) -> Dict[str, Any]:
    """The message hub's record of the best checkpoints (``best_score*`` and
    ``best_ckpt*`` keys), which ``CheckpointHook`` updates with each new best."""
    return {k: v for k, v in runner.message_hub.runtime_info.items()
            if k.startswith(('best_score', 'best_ckpt'))}


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic checkpoint and ``last_checkpoint`` writes.

    Accepts exactly ``CheckpointHook``'s arguments; a local ``out_dir`` without
    ``backend_args`` is written through the atomic backend. See the module
    docstring.
    """

    atomic = False  # decided in before_train, once out_dir is known

    def before_run(self, runner) -> None:
        # This hook's checkpoints are what --resume reads back: make them
        # loadable weights-only even in a config without AllowCheckpointTypesHook.
        allow_mmengine_checkpoint_types()

    def before_train(self, runner) -> None:
        excess = self._trim_keep_list(runner)
        super().before_train(runner)
        self.atomic = self.select_atomic_backend()
        if not self.atomic:
            print_log(f'{type(self).__name__}: {self.out_dir} is written through '
                      f'{type(self.file_backend).__name__} (backend_args='
                      f'{self.backend_args}, file_client_args={self.file_client_args}); '
                      "checkpoints are written by MMEngine's non-atomic path",
                      logger='current', level=logging.WARNING)
        pending = list(runner.message_hub.runtime_info.get(PENDING_REMOVAL_KEY, []))
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, [])
        if not is_main_process():
            return
        if self.atomic:
            for directory in {self.out_dir, runner.work_dir}:
                for path in remove_stale_partials(directory):
                    runner.logger.info(f'Removed a partial file left by an '
                                       f'interrupted save: {path}')
            for path in restore_set_aside(self.out_dir):
                runner.logger.warning(f'Put back {path}: the run that was to replace '
                                      f'it stopped before the new file was written')
        self.remove_checkpoints(runner, excess + pending)

    def select_atomic_backend(self) -> bool:
        """Switches a plain local ``out_dir`` to the atomic backend; True when
        checkpoints are written atomically.

        Decided on the backend MMEngine inferred from ``out_dir``'s prefix and
        the user's arguments, so that remote storage (``s3://``...) keeps its
        own backend; ``backend_args`` naming an :class:`AtomicLocalBackend`
        (or a subclass) are kept as given.
        """
        if isinstance(self.file_backend, AtomicLocalBackend):
            return True
        if (type(self.file_backend) is LocalBackend and self.backend_args is None
                and self.file_client_args is None):
            self.backend_args = dict(backend=BACKEND_NAME)
            self.file_backend = AtomicLocalBackend()
            return True
        return False

    def _trim_keep_list(self, runner) -> List[int]:
        """Shortens a resumed keep list to ``max_keep_ckpts`` and returns the ids
        dropped: MMEngine would delete their files itself, unguarded."""
        keep = list(runner.message_hub.runtime_info.get(KEEP_KEY, []))
        if self.max_keep_ckpts <= 0 or len(keep) <= self.max_keep_ckpts:
            return []
        runner.message_hub.update_info(KEEP_KEY, keep[-self.max_keep_ckpts:])
        return keep[:-self.max_keep_ckpts]

    # -- when to save (CheckpointHook's rules) -------------------------------

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.atomic:
            return super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if self.by_epoch:
            return
        if (self.every_n_train_iters(runner, self.interval, self.save_begin)
                or (self.save_last and self.is_last_train_iter(runner))):
            step = runner.iter + 1
            runner.logger.info(f'Saving checkpoint at {step} iterations')
            self.save_step_checkpoint(runner, step, dict(epoch=runner.epoch, iter=step))

    def after_train_epoch(self, runner) -> None:
        if not self.atomic:
            return super().after_train_epoch(runner)
        if not self.by_epoch:
            return
        if (self.every_n_epochs(runner, self.interval, self.save_begin)
                or (self.save_last and self.is_last_train_epoch(runner))):
            step = runner.epoch + 1
            runner.logger.info(f'Saving checkpoint at {step} epochs')
            self.save_step_checkpoint(runner, step, dict(epoch=step, iter=runner.iter))

    def after_val_epoch(self, runner, metrics: Dict[str, Any]) -> None:
        if not self.atomic:
            return super().after_val_epoch(runner, metrics)
        # After a new best, MMEngine 0.10.7's _save_best_checkpoint saves the latest
        # step checkpoint again (so that it records the new best) through its
        # non-atomic path, which it skips while ``last_ckpt`` is None; that save is
        # done here instead, when the best record changed.
        last, self.last_ckpt = self.last_ckpt, None
        before = best_record(runner)
        try:
            with self.file_backend.removals_set_aside():
                super().after_val_epoch(runner, metrics)
        finally:
            self.last_ckpt = last
        if last is not None and best_record(runner) != before:
            step = runner.epoch if self.by_epoch else runner.iter
            self.save_step_checkpoint(runner, step,
                                      dict(epoch=runner.epoch, iter=runner.iter))

    # -- saving ------------------------------------------------------------

    def save_step_checkpoint(self, runner, step: int, meta: dict) -> None:
        """Saves ``filename_tmpl.format(step)``, then the pointer, then deletes."""
        dropped: List[int] = []
        if self.max_keep_ckpts > 0:
            # As MMEngine: the keep list is updated before saving, so that the
            # checkpoint's message hub carries it; deletion waits until the new
            # checkpoint and the pointer are both in place.
            if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    dropped.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info(KEEP_KEY, list(self.keep_ckpt_ids))
        pending = list(runner.message_hub.runtime_info.get(PENDING_REMOVAL_KEY, []))
        pending += [s for s in dropped if s not in pending]
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, pending)

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, filename, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, [])
        if not is_main_process():  # Runner.save_checkpoint writes on rank 0 only
            return
        self.file_backend.put_text(self.last_ckpt, osp.join(runner.work_dir, POINTER_NAME))
        self.remove_checkpoints(runner, pending)

    # -- deleting ----------------------------------------------------------

    def remove_checkpoints(self, runner, steps: Iterable[int]) -> None:
        """Deletes the checkpoints of ``steps`` that are not in the keep list."""
        keep = set(getattr(self, 'keep_ckpt_ids', ()))
        for step in steps:
            if step not in keep:
                self.remove_checkpoint(runner, self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(step)))

    def remove_checkpoint(self, runner, path: str) -> None:
        """Deletes one checkpoint unless ``last_checkpoint`` (or this run) needs it."""
        protected = [p for p in (read_last_checkpoint(runner.work_dir), self.last_ckpt) if p]
        if path in protected or (self.atomic and any(
                osp.exists(p) and osp.exists(path) and osp.samefile(p, path)
                for p in protected)):
            runner.logger.info(f'Keeping {path}: last_checkpoint points to it')
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints are directories
            self.file_backend.rmtree(path)
