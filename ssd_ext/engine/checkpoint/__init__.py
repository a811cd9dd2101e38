"""Checkpoints that survive a kill at any moment of a save and load weights-only,
and the preemption hook that saves one on SIGTERM/SIGUSR1 before exiting.
"""
from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend
from ssd_ext.engine.checkpoint.atomic_checkpoint_hook import AtomicCheckpointHook
from ssd_ext.engine.checkpoint.preemption import PREEMPTED_EXIT_CODE, PreemptionHook
from ssd_ext.engine.checkpoint.allow_types_hook import AllowCheckpointTypesHook

__all__ = [
    'AllowCheckpointTypesHook', 'AtomicCheckpointHook', 'AtomicLocalBackend',
    'PREEMPTED_EXIT_CODE', 'PreemptionHook'
]
