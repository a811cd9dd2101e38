"""How training runs, one subpackage per concern.

``checkpoint`` (saves that survive a kill), ``resume`` (exact resume),
``nonfinite`` (the NaN/inf guard), ``speed`` (precision, memory format,
compilation) and ``launch`` (the Runner of ``tools/``, not imported here);
``class_consistency_hook`` checks the datasets' classes against the head. Importing
this package registers every hook, loop, sampler, optim wrapper and file backend
below in MMDetection's registries.
"""
from ssd_ext.engine.checkpoint import (AllowCheckpointTypesHook, AtomicCheckpointHook,
                                       AtomicLocalBackend, PreemptionHook)
from ssd_ext.engine.class_consistency_hook import DatasetModelConsistencyHook
from ssd_ext.engine.nonfinite import NonFiniteLossHook
from ssd_ext.engine.resume import (FastResumeIterBasedTrainLoop, ResumableInfiniteSampler,
                                   SeededSampleDataset, seed_everything)
from ssd_ext.engine.speed import (ChannelsLastHook, CompileForTestHook, CPUAutocastOptimWrapper,
                                  SkipSafeAmpOptimWrapper, compile_network)

__all__ = [
    # checkpoint
    'AllowCheckpointTypesHook', 'AtomicCheckpointHook', 'AtomicLocalBackend', 'PreemptionHook',
    # class_consistency_hook
    'DatasetModelConsistencyHook',
    # nonfinite
    'NonFiniteLossHook',
    # resume
    'FastResumeIterBasedTrainLoop', 'ResumableInfiniteSampler', 'SeededSampleDataset',
    'seed_everything',
    # speed
    'ChannelsLastHook', 'CompileForTestHook', 'CPUAutocastOptimWrapper', 'SkipSafeAmpOptimWrapper',
    'compile_network'
]
