"""Checkpoint writing that survives a kill at any moment of a save.

Files are replaced atomically (``ssd_ext/utils/checkpoint_io.py`` through the
MMEngine backend ``'atomic_local'``);
``AtomicCheckpointHook`` orders each save so that ``last_checkpoint`` always
names a whole checkpoint; ``AllowCheckpointTypesHook`` reads them weights-only;
``PreemptionHook`` saves on SIGTERM/SIGUSR1 and exits with ``PREEMPTED_EXIT_CODE``.
"""
from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend
from ssd_ext.engine.checkpoint.hook import AtomicCheckpointHook
from ssd_ext.engine.checkpoint.preemption import PREEMPTED_EXIT_CODE, PreemptionHook
from ssd_ext.engine.checkpoint.types_hook import AllowCheckpointTypesHook

__all__ = [
    'AllowCheckpointTypesHook', 'AtomicCheckpointHook', 'AtomicLocalBackend',
    'PREEMPTED_EXIT_CODE', 'PreemptionHook'
]
