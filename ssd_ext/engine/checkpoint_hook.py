"""``CheckpointHook`` whose checkpoints survive a kill at any moment of a save.

MMEngine 0.10.7 writes a checkpoint straight into its final file
(``Runner.save_checkpoint`` -> ``mmengine.runner.checkpoint.save_checkpoint`` ->
``LocalBackend.put``: ``open(path, 'wb').write(...)``) and then rewrites
``work_dir/last_checkpoint`` in place. With ``max_keep_ckpts`` it also deletes the
oldest checkpoint *before* writing the new one. A kill during a save can
therefore leave a truncated ``iter_N.pth``, an empty ``last_checkpoint``, or (with
``max_keep_ckpts=1``) a pointer to a checkpoint that was already deleted;
``--resume`` then fails.

:class:`AtomicCheckpointHook` keeps MMEngine's behaviour and file names but
orders every step so that the previous checkpoint and the pointer stay valid:

1. the runner writes the checkpoint to a partial file beside the target
   (``.iter_N.pth.partial-<pid>``), which is fsynced and renamed over
   ``iter_N.pth`` (:mod:`ssd_ext.engine.atomic_io`);
2. ``last_checkpoint`` is replaced atomically the same way, and only after 1;
3. only then are checkpoints beyond ``max_keep_ckpts`` deleted, and never the
   one ``last_checkpoint`` names. The ids still to delete are stored in the
   checkpoint's message hub, so a kill between 2 and 3 is cleaned up by the next
   run instead of leaking a file; stale partial files are removed at start.

Best checkpoints (``save_best``) are written atomically too. MMEngine still
deletes the previous best file before writing the new one, so a kill between
the two can lose the best checkpoint (never the resume checkpoint).

Only local paths are handled this way; for other storage backends (e.g. petrel)
the hook warns and behaves exactly like ``CheckpointHook``.
"""
import logging
import os
import os.path as osp
import shutil
from typing import Any, Iterable, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from ssd_ext.engine.atomic_io import (atomic_write, commit_partial, partial_path,
                                      remove_stale_partials)
from ssd_ext.registry import HOOKS

# message hub runtime info: checkpoint ids dropped from ``keep_ckpt_ids`` whose
# files are still to be deleted (see the module docstring, step 3).
PENDING_REMOVAL_KEY = 'ckpt_ids_to_remove'
POINTER_NAME = 'last_checkpoint'


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """The path ``work_dir/last_checkpoint`` names, or None."""
    try:
        with open(osp.join(work_dir, POINTER_NAME)) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


class _AtomicSavingRunner:
    """A runner whose ``save_checkpoint`` goes through the hook's atomic save.

    Lets :meth:`AtomicCheckpointHook._save_best_checkpoint` reuse MMEngine's
    logic unchanged; everything else is the wrapped runner's.
    """

    def __init__(self, runner, hook: 'AtomicCheckpointHook') -> None:
        self.__dict__['_runner'] = runner
        self.__dict__['_hook'] = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._runner, name, value)

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None, **kwargs) -> None:
        assert file_client_args is None, 'atomic saves use backend_args only'
        self._hook._atomic_save(self._runner, out_dir, filename, **kwargs)


def _unwrap(runner):
    return runner._runner if isinstance(runner, _AtomicSavingRunner) else runner


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic checkpoint and ``last_checkpoint`` writes.

    Accepts exactly ``CheckpointHook``'s arguments; see the module docstring.
    """

    atomic = False  # decided in before_train, once the storage backend is known

    def before_train(self, runner) -> None:
        excess: List[int] = []
        if self.max_keep_ckpts > 0 and 'keep_ckpt_ids' in runner.message_hub.runtime_info:
            # MMEngine trims an over-long keep list here with unguarded deletes;
            # hand it the trimmed list and delete the excess ourselves.
            keep = list(runner.message_hub.get_info('keep_ckpt_ids'))
            if len(keep) > self.max_keep_ckpts:
                excess = keep[:-self.max_keep_ckpts]
                runner.message_hub.update_info('keep_ckpt_ids',
                                               keep[-self.max_keep_ckpts:])
        super().before_train(runner)
        self.atomic = (self.file_client_args is None
                       and isinstance(self.file_backend, LocalBackend))
        if not self.atomic:
            print_log(f'{type(self).__name__}: {self.out_dir} is not on a local file '
                      'system (or file_client_args is set); checkpoints are written '
                      "by MMEngine's non-atomic path", logger='current',
                      level=logging.WARNING)
        pending = list(runner.message_hub.runtime_info.get(PENDING_REMOVAL_KEY, []))
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, [])
        if not is_main_process():
            return
        if self.atomic:
            for directory in {self.out_dir, runner.work_dir}:
                for path in remove_stale_partials(directory):
                    runner.logger.info(f'Removed a partial file left by an '
                                       f'interrupted save: {path}')
        self._remove_checkpoints(runner, excess + pending)

    # -- saving ------------------------------------------------------------

    def _atomic_save(self, runner, out_dir: str, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` into a partial file, then an atomic rename."""
        final = osp.join(out_dir, filename)
        staged = osp.basename(partial_path(final))
        self._write_partial(runner, out_dir, staged, **kwargs)
        if is_main_process():  # Runner.save_checkpoint is master_only
            self._commit(osp.join(out_dir, staged), final)

    def _write_partial(self, runner, out_dir: str, staged_name: str, **kwargs) -> None:
        runner.save_checkpoint(out_dir, staged_name, **kwargs)

    def _commit(self, staged: str, final: str) -> None:
        commit_partial(staged, final)

    def _write_last_checkpoint(self, runner, ckpt_path: str) -> None:
        atomic_write(osp.join(runner.work_dir, POINTER_NAME), ckpt_path)

    def _save_checkpoint_with_step(self, runner, step, meta):
        runner = _unwrap(runner)
        if not self.atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped: List[int] = []
        if self.max_keep_ckpts > 0:
            # As MMEngine: the keep list is updated before saving, so that the
            # checkpoint's message hub carries it; deletion waits until the new
            # checkpoint and the pointer are both in place.
            if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    dropped.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))
        pending = list(runner.message_hub.runtime_info.get(PENDING_REMOVAL_KEY, []))
        pending += [s for s in dropped if s not in pending]
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, pending)

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self._atomic_save(
            runner, self.out_dir, ckpt_filename,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)
        runner.message_hub.update_info(PENDING_REMOVAL_KEY, [])
        if not is_main_process():
            return
        self._write_last_checkpoint(runner, self.last_ckpt)
        self._remove_checkpoints(runner, pending)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.atomic:
            return super()._save_best_checkpoint(runner, metrics)
        super()._save_best_checkpoint(_AtomicSavingRunner(_unwrap(runner), self),
                                      metrics)

    # -- deleting ----------------------------------------------------------

    def _remove_checkpoints(self, runner, steps: Iterable[int]) -> None:
        keep = set(getattr(self, 'keep_ckpt_ids', ()))
        for step in steps:
            if step in keep:
                continue
            self._remove_checkpoint(
                runner, self.file_backend.join_path(self.out_dir,
                                                    self.filename_tmpl.format(step)))

    def _remove_checkpoint(self, runner, path: str) -> None:
        """Deletes one checkpoint unless ``last_checkpoint`` (or this run) needs it."""
        protected = {p for p in (read_last_checkpoint(runner.work_dir), self.last_ckpt) if p}
        if self.atomic:
            if any(osp.exists(p) and osp.exists(path) and osp.samefile(p, path)
                   for p in protected):
                runner.logger.info(f'Keeping {path}: last_checkpoint points to it')
                return
            if osp.isfile(path):
                os.remove(path)
            elif osp.isdir(path):  # deepspeed checkpoints are directories
                shutil.rmtree(path)
            return
        if path in protected:
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # deepspeed checkpoints are directories
            self.file_backend.rmtree(path)
