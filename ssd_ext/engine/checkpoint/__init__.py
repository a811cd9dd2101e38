"""Checkpoint writing that survives a kill at any moment of a save.

Every checkpoint, best checkpoint and ``last_checkpoint`` pointer is written to
a partial file, fsynced and renamed over its target (``atomic_io``, through the
``'atomic_local'`` file backend of ``atomic_backend``), so a resumed run always
finds the previous checkpoint or the new one whole; ``AtomicCheckpointHook``
orders the save so that the pointer never names a missing file, and
``AllowCheckpointTypesHook`` lets the Runner read the checkpoints back
weights-only. ``PreemptionHook`` saves the current iteration through it on
SIGTERM/SIGUSR1 and exits with ``PREEMPTED_EXIT_CODE``.
"""
from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend
from ssd_ext.engine.checkpoint.atomic_io import (atomic_open, atomic_torch_save, atomic_write,
                                                 remove_stale_partials)
from ssd_ext.engine.checkpoint.hook import AtomicCheckpointHook
from ssd_ext.engine.checkpoint.preemption import PREEMPTED_EXIT_CODE, PreemptionHook
from ssd_ext.engine.checkpoint.types_hook import AllowCheckpointTypesHook

__all__ = [
    'AllowCheckpointTypesHook', 'AtomicCheckpointHook', 'AtomicLocalBackend',
    'PREEMPTED_EXIT_CODE', 'PreemptionHook', 'atomic_open', 'atomic_torch_save',
    'atomic_write', 'remove_stale_partials'
]
