"""A stand-in for remote storage: an MMEngine file backend that serves the
files of a local folder under another root, which does not exist locally.

Code that honours ``backend_args`` finds the files; code that opens paths
itself (``open``, ``os.path``) finds none.
"""
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mmengine.fileio import LocalBackend, register_backend

NAME = 'ssd_ext_test_remapped'


class RemappedBackend(LocalBackend):
    """Paths under ``seen_root`` are read from ``real_root``."""

    def __init__(self, seen_root: str, real_root: str) -> None:
        super().__init__()
        self.seen_root, self.real_root = seen_root, real_root

    def real(self, filepath) -> str:
        path = str(filepath)
        assert path.startswith(self.seen_root), path
        return self.real_root + path[len(self.seen_root):]

    def get(self, filepath) -> bytes:
        return super().get(self.real(filepath))

    def get_text(self, filepath, encoding: str = 'utf-8') -> str:
        return super().get_text(self.real(filepath), encoding)

    def exists(self, filepath) -> bool:
        return super().exists(self.real(filepath))

    def isfile(self, filepath) -> bool:
        return super().isfile(self.real(filepath))

    @contextmanager
    def get_local_path(self, filepath) -> Iterator[str]:
        yield self.real(filepath)


register_backend(NAME, RemappedBackend, force=True)


def remapped(real_root: Path) -> tuple:
    """``(seen_root, backend_args)`` that serve ``real_root`` under a root that
    does not exist on this machine."""
    seen_root = f'/nonexistent/remapped/{real_root.name}'
    assert not Path(seen_root).exists()
    return seen_root, dict(backend=NAME, seen_root=seen_root, real_root=str(real_root))
