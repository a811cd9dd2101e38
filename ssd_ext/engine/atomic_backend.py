"""MMEngine file backend ``'atomic_local'``: local files written atomically.

MMEngine writes checkpoints through a file backend (``Runner.save_checkpoint``
-> ``mmengine.runner.checkpoint.save_checkpoint`` -> ``backend.put``), and its
``LocalBackend.put`` opens the final file and writes into it, so a kill in the
middle leaves a truncated checkpoint. Registered through MMEngine's public
``register_backend``, this backend is selected with
``backend_args=dict(backend='atomic_local')`` wherever MMEngine takes
``backend_args`` (``CheckpointHook``, ``save_checkpoint``).
"""
from mmengine.fileio import LocalBackend, register_backend

from ssd_ext.engine.atomic_io import PathLike, atomic_write

BACKEND_NAME = 'atomic_local'


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put`` and ``put_text`` replace the target
    atomically (:func:`~ssd_ext.engine.atomic_io.atomic_write`)."""

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding=encoding)


register_backend(BACKEND_NAME, AtomicLocalBackend)
