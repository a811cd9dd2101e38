"""Crash-safe file writes: a reader sees the old file or the new one, never a torn one.

The recipe is the usual POSIX one: write a *partial* file beside the target (same
directory, hence same file system), flush it and ``fsync`` it, ``os.replace`` it
over the target (atomic on POSIX and on Windows), then ``fsync`` the directory so
that the rename itself survives a power cut. A process killed at any moment
(SIGKILL included) leaves either the complete old target or the complete new one,
plus at worst a stray partial file, which :func:`remove_stale_partials` clears.

Partial files are named ``.<target name>.partial-<pid>``: hidden, and never
matching a ``*.pth`` glob, so nothing mistakes them for checkpoints.
"""
import os
import os.path as osp
import re
from contextlib import contextmanager
from typing import IO, Any, Iterator, List, Union

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
