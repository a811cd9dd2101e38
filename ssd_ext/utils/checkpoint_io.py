"""Checkpoint files in and out: written atomically, read weights-only.

Writing: a reader sees the old file or the new one, never a torn one. A
*partial* file beside the target (same file system) is written, flushed and
``fsync``-ed, ``os.replace``-d over the target, and the directory ``fsync``-ed.
A process killed at any moment (SIGKILL included) leaves the complete old or new
target plus at worst a partial file ``.<name>.partial-<pid>`` (hidden, never
matching ``*.pth``), which :func:`remove_stale_partials` clears.

Reading: :func:`safe_load` loads weights-only, refusing any pickled object
outside an allow-list of exactly the non-tensor types MMEngine's checkpoints
hold (the message hub's ``HistoryBuffer`` with numpy arrays, schedulers'
``Counter``); ``builtins.getattr``, which ``HistoryBuffer`` pickles its
statistics through, is bound to :func:`history_buffer_method`, which resolves
those methods only. The allow-list is torch's, process-wide, and extended
explicitly (:func:`allow_mmengine_checkpoint_types`): by :func:`safe_load`, and
for a Runner's ``load_from``/``resume`` by ``AllowCheckpointTypesHook``.
"""
import collections
import os
import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import IO, Any, Iterator, List, Union

import numpy as np
import torch

PARTIAL_MARK = '.partial-'
_PARTIAL_RE = re.compile(r'^\..+' + re.escape(PARTIAL_MARK) + r'\d+$')

PathLike = Union[str, os.PathLike]


def partial_path(path: PathLike) -> str:
    """Where :func:`atomic_open` stages ``path``: ``dir/.name.partial-<pid>``."""
    directory, name = osp.split(os.fspath(path))
    return osp.join(directory, f'.{name}{PARTIAL_MARK}{os.getpid()}')


def is_partial_name(name: str) -> bool:
    """Whether a file name is one of :func:`partial_path`'s."""
    return bool(_PARTIAL_RE.match(name))


def fsync_dir(path: PathLike) -> None:
    """Makes renames and unlinks in ``path`` durable (no-op where unsupported)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_open(path: PathLike, mode: str = 'wb',
                encoding: Union[str, None] = None) -> Iterator[IO[Any]]:
    """``open(path, mode)`` for writing, published atomically when the block exits.

    If the block raises, the target is untouched and the partial file removed.
    ``mode`` is a write mode (``'w'``, ``'wb'``); ``'x'`` is refused because the
    final rename would silently replace an existing target.
    """
    if 'w' not in mode or any(m in mode for m in 'rax+'):
        raise ValueError(f"atomic_open writes a new file ('w' or 'wb'); mode {mode!r} "
                         'is not allowed')
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    staged = partial_path(path)
    try:
        with open(staged, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(staged, path)
    except BaseException:
        _remove_quietly(staged)
        raise
    fsync_dir(directory)


def atomic_write(path: PathLike, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Writes ``data`` (bytes, or text in ``encoding``) to ``path`` atomically."""
    if isinstance(data, str):
        with atomic_open(path, 'w', encoding=encoding) as f:
            f.write(data)
    else:
        with atomic_open(path, 'wb') as f:
            f.write(data)


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save(obj, path)`` that never leaves a truncated ``path`` behind."""
    with atomic_open(path, 'wb') as f:
        torch.save(obj, f)


def _writer_running(name: str) -> bool:
    """Whether the process that named this partial file still runs on this host.

    This process is not writing while it clears its directory, so its own pid
    counts as gone (a stale file from an earlier process that had the same pid).
    """
    pid = int(name.rsplit(PARTIAL_MARK, 1)[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except (OverflowError, ValueError):  # not a pid this system can have
        return False
    return True


def remove_stale_partials(directory: PathLike) -> List[str]:
    """Deletes partial files that killed writers left in ``directory``.

    Only names of :func:`partial_path`'s form are touched, and only those whose
    writer no longer runs on this host: a ``tools/test.py`` writing its metrics
    into the work dir of a training that starts keeps its partial file. A
    writer on another host of a shared file system cannot be seen, so call it
    when no other host writes into ``directory`` (e.g. before training starts).
    Returns the removed paths.
    """
    directory = os.fspath(directory)
    if not osp.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        path = osp.join(directory, name)
        if is_partial_name(name) and osp.isfile(path) and not _writer_running(name):
            _remove_quietly(path)
            removed.append(path)
    if removed:
        fsync_dir(directory)
    return removed


# The statistics HistoryBuffer defines as methods and registers for every
# buffer; statistics registered later are functions of other modules, pickled by
# their own name rather than through getattr.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner: Any, name: str) -> Any:
    """Stands in for ``getattr`` while unpickling: only ``HistoryBuffer`` statistics."""
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only '
        f'HistoryBuffer statistics methods may be looked up')


def mmengine_checkpoint_types() -> List[Any]:
    """The non-tensor types MMEngine 0.10.7's ``Runner.save_checkpoint`` writes
    (docs/upstream.md)."""
    from mmengine.logging import HistoryBuffer

    reconstruct = getattr(np, '_core', np.core).multiarray._reconstruct
    scalar = getattr(np, '_core', np.core).multiarray.scalar
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.float64, np.float32, np.float16, np.int64, np.int32,
                      np.bool_, np.uint8)]
    return [HistoryBuffer, collections.Counter, np.ndarray, np.dtype, reconstruct,
            scalar, *dtype_classes, (history_buffer_method, 'builtins.getattr')]


def allow_mmengine_checkpoint_types() -> None:
    """Adds :func:`mmengine_checkpoint_types` to torch's weights-only allow-list
    (a set: adding them again changes nothing)."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())


def safe_load(path: Union[str, os.PathLike], map_location: Any = 'cpu',
              mmap: bool = False) -> Any:
    """``torch.load`` with weights-only loading; names the file when it refuses.

    ``mmap=True`` maps tensors instead of reading them, for callers that only
    check or inspect a file that is loaded again later; legacy (non-zip)
    checkpoints cannot be mapped and are read in full.
    """
    allow_mmengine_checkpoint_types()
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True,
                              mmap=mmap)
        except RuntimeError as err:
            if not (mmap and 'mmap' in str(err)):
                raise
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f'checkpoint not found: {path}') from None
    except pickle.UnpicklingError as err:  # how weights-only loading refuses a global
        raise RuntimeError(
            f'refusing to load {path}: it is not a weights-only checkpoint '
            f'(it holds objects outside the allow-list, which could run code '
            f'when unpickled). Underlying error: {err}') from err
    except Exception as err:  # e.g. a truncated download: not a safety matter
        raise RuntimeError(f'cannot read checkpoint {path} (damaged, or not a file '
                           f'torch.save wrote): {err}') from err
