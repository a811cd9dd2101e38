"""Every name ``ssd_ext.engine`` registers resolves, as a config's ``type`` does,
to the class ``ssd_ext.engine`` exports.

Configs and users' code name these strings. A class moved to another module,
renamed, registered under another name, or no longer imported by
``ssd_ext.engine`` (so never registered) fails here instead of at the first run
of a config that names it.
"""
import pytest
from mmengine.fileio import get_file_backend
from mmengine.registry import DATA_SAMPLERS, DATASETS, HOOKS, LOOPS, OPTIM_WRAPPERS

import ssd_ext.engine as engine

# MMEngine's root registries, which a Runner builds from; with the configs'
# default_scope='mmdet' they resolve names in MMDetection's, where ssd_ext registers.
REGISTERED = {
    'hooks': (HOOKS, ['AllowCheckpointTypesHook', 'AtomicCheckpointHook', 'ChannelsLastHook',
                      'CompileForTestHook', 'DatasetModelConsistencyHook',
                      'NonFiniteLossHook', 'PreemptionHook']),
    'loops': (LOOPS, ['FastResumeIterBasedTrainLoop']),
    'data samplers': (DATA_SAMPLERS, ['ResumableInfiniteSampler']),
    'datasets': (DATASETS, ['SeededSampleDataset']),
    'optim wrappers': (OPTIM_WRAPPERS, ['CPUAutocastOptimWrapper', 'SkipSafeAmpOptimWrapper']),
}
BACKENDS = {'atomic_local': 'AtomicLocalBackend'}


@pytest.mark.parametrize('registry, name', [
    pytest.param(registry, name, id=name)
    for registry, names in REGISTERED.values() for name in names])
def test_name_resolves_to_the_exported_class(registry, name):
    exported = getattr(engine, name)
    assert name in engine.__all__ and isinstance(exported, type)
    with registry.switch_scope_and_registry('mmdet') as scoped:
        assert scoped.get(name) is exported


@pytest.mark.parametrize('kind', REGISTERED)
def test_no_engine_registration_is_left_out_of_the_list(kind):
    """A new registration must be listed above, hence exported and checked."""
    registry, names = REGISTERED[kind]
    with registry.switch_scope_and_registry('mmdet') as scoped:
        from_engine = sorted(name for name, cls in scoped.module_dict.items()
                             if cls.__module__.startswith('ssd_ext.engine.'))
    assert from_engine == sorted(names)


@pytest.mark.parametrize('backend, class_name', BACKENDS.items())
def test_file_backend_name_resolves_to_the_exported_class(backend, class_name):
    exported = getattr(engine, class_name)
    assert class_name in engine.__all__ and isinstance(exported, type)
    assert type(get_file_backend(backend_args=dict(backend=backend))) is exported
