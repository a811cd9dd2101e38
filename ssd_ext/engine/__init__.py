"""How training runs, one subpackage or module per concern (docs/architecture.md).
Importing it registers every hook, loop, sampler, optim wrapper and file backend
in MMDetection's registries; ``launch`` (the Runner of ``tools/``) is not imported
here.
"""
from ssd_ext.engine.checkpoint import (AllowCheckpointTypesHook, AtomicCheckpointHook,
                                       AtomicLocalBackend, PreemptionHook)
from ssd_ext.engine.class_consistency_hook import DatasetModelConsistencyHook
from ssd_ext.engine.compile import CompileForTestHook, compile_network
from ssd_ext.engine.memory_format import ChannelsLastHook
from ssd_ext.engine.nonfinite import NonFiniteLossHook
from ssd_ext.engine.precision import CPUAutocastOptimWrapper, SkipSafeAmpOptimWrapper
from ssd_ext.engine.resume import (FastResumeIterBasedTrainLoop, ResumableInfiniteSampler,
                                   SeededSampleDataset, seed_everything)

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
    # precision, memory_format, compile
    'ChannelsLastHook', 'CompileForTestHook', 'CPUAutocastOptimWrapper', 'SkipSafeAmpOptimWrapper',
    'compile_network'
]
