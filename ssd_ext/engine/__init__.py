from ssd_ext.engine.amp_optim_wrapper import SkipSafeAmpOptimWrapper
from ssd_ext.engine.atomic_backend import AtomicLocalBackend
from ssd_ext.engine.atomic_io import (atomic_open, atomic_torch_save, atomic_write,
                                      remove_stale_partials)
from ssd_ext.engine.channels_last import ChannelsLastHook
from ssd_ext.engine.checkpoint_hook import AtomicCheckpointHook
from ssd_ext.engine.checkpoint_types_hook import AllowCheckpointTypesHook
from ssd_ext.engine.compile import CompileForTestHook, compile_network
from ssd_ext.engine.data_checks_hook import DatasetModelConsistencyHook
from ssd_ext.engine.nonfinite_loss_hook import NonFiniteLossHook
from ssd_ext.engine.optim_wrapper import CPUAutocastOptimWrapper
from ssd_ext.engine.rng_state import get_rng_state, set_rng_state
from ssd_ext.engine.sampler import ResumableInfiniteSampler
from ssd_ext.engine.train_loop import FastResumeIterBasedTrainLoop

__all__ = [
    'AllowCheckpointTypesHook', 'AtomicCheckpointHook', 'AtomicLocalBackend',
    'ChannelsLastHook', 'CompileForTestHook',
    'CPUAutocastOptimWrapper', 'DatasetModelConsistencyHook', 'FastResumeIterBasedTrainLoop',
    'NonFiniteLossHook', 'ResumableInfiniteSampler',
    'SkipSafeAmpOptimWrapper', 'atomic_open',
    'atomic_torch_save', 'atomic_write', 'compile_network', 'get_rng_state',
    'remove_stale_partials', 'set_rng_state'
]
