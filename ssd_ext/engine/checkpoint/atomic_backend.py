"""MMEngine file backend ``'atomic_local'``: local files replaced atomically.

Rule: ``put`` and ``put_text`` write through :func:`~ssd_ext.utils.checkpoint_io.atomic_write`, so
a checkpoint MMEngine saves through this backend (``backend_args=dict(backend=
'atomic_local')``) is never torn; inside :meth:`AtomicLocalBackend.removals_deferred`
``remove`` only records the path, for the caller to delete once the file that
replaces it is written.
"""
import os
from contextlib import contextmanager
from typing import ClassVar, Iterator, List, Optional

from mmengine.fileio import LocalBackend, register_backend

from ssd_ext.utils.checkpoint_io import PathLike, atomic_write

BACKEND_NAME = 'atomic_local'


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` with atomic writes and removals that can be deferred."""

    # Shared by every instance: MMEngine 0.10.7 builds a new backend for each use
    # (docs/upstream.md).
    _deferred: ClassVar[Optional[List[str]]] = None

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding=encoding)

    def remove(self, filepath: PathLike) -> None:
        if AtomicLocalBackend._deferred is None:
            super().remove(filepath)
        else:
            AtomicLocalBackend._deferred.append(os.fspath(filepath))

    @staticmethod
    @contextmanager
    def removals_deferred() -> Iterator[List[str]]:
        """Yields the list of the paths removed in the block, which stay on disk."""
        AtomicLocalBackend._deferred = deferred = []
        try:
            yield deferred
        finally:
            AtomicLocalBackend._deferred = None


register_backend(BACKEND_NAME, AtomicLocalBackend)
