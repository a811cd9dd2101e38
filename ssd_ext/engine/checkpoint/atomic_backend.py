"""MMEngine file backend ``'atomic_local'``: local files written atomically.

MMEngine writes checkpoints through a file backend (``Runner.save_checkpoint``
-> ``mmengine.runner.checkpoint.save_checkpoint`` -> ``backend.put``), and its
``LocalBackend.put`` opens the final file and writes into it, so a kill in the
middle leaves a truncated checkpoint. Registered through MMEngine's public
``register_backend``, this backend is selected with
``backend_args=dict(backend='atomic_local')`` wherever MMEngine takes
``backend_args`` (``CheckpointHook``, ``save_checkpoint``).

MMEngine's ``CheckpointHook`` also deletes the previous best checkpoint
*before* it writes the new one. Within :meth:`AtomicLocalBackend.removals_set_aside`
a removal only renames the file to a hidden name beside it
(:func:`set_aside_path`), deleted once the block has written its replacement;
:func:`restore_set_aside` puts back what a killed run left aside.
"""
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, List, Optional

from mmengine.fileio import LocalBackend, register_backend

from ssd_ext.engine.checkpoint.atomic_io import PathLike, atomic_write, fsync_dir

BACKEND_NAME = 'atomic_local'
SET_ASIDE_SUFFIX = '.set-aside'


def set_aside_path(path: PathLike) -> str:
    """Where a removal within ``removals_set_aside`` moves ``path``:
    ``dir/.name.set-aside`` (hidden, never matching ``*.pth``)."""
    directory, name = osp.split(os.fspath(path))
    return osp.join(directory, f'.{name}{SET_ASIDE_SUFFIX}')


def _put_back(path: str) -> bool:
    """Renames ``path``'s set-aside file back unless ``path`` exists again (then
    the set-aside file is deleted); True when it was put back."""
    aside = set_aside_path(path)
    if osp.exists(path):
        os.remove(aside)
        return False
    os.replace(aside, path)
    return True


def restore_set_aside(directory: PathLike) -> List[str]:
    """Puts back the files a killed run set aside in ``directory`` (the previous
    best checkpoint, when the kill came before its replacement was written);
    returns their paths. Set-aside files whose original exists again are deleted."""
    directory = os.fspath(directory)
    if not osp.isdir(directory):
        return []
    restored = []
    for name in sorted(os.listdir(directory)):
        if name.startswith('.') and name.endswith(SET_ASIDE_SUFFIX):
            path = osp.join(directory, name[1:-len(SET_ASIDE_SUFFIX)])
            if _put_back(path):
                restored.append(path)
    if restored:
        fsync_dir(directory)
    return restored


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` and ``put_text`` replace the target
    atomically (:func:`~ssd_ext.engine.checkpoint.atomic_io.atomic_write`), and whose
    ``remove`` can wait until a replacement is written (:meth:`removals_set_aside`)."""

    _set_aside: Optional[List[str]] = None

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding=encoding)

    def remove(self, filepath: PathLike) -> None:
        if self._set_aside is None:
            return super().remove(filepath)
        filepath = os.fspath(filepath)
        os.replace(filepath, set_aside_path(filepath))
        self._set_aside.append(filepath)

    @contextmanager
    def removals_set_aside(self) -> Iterator[None]:
        """Files removed in the block are renamed aside, deleted when the block
        ends and put back if it raises: a file is gone only once the block that
        replaces it has finished. A kill leaves them for :func:`restore_set_aside`."""
        self._set_aside = aside = []
        try:
            yield
        except BaseException:
            for path in aside:
                _put_back(path)
            raise
        finally:
            self._set_aside = None
        for path in aside:
            os.remove(set_aside_path(path))


register_backend(BACKEND_NAME, AtomicLocalBackend)
