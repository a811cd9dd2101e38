"""``ssd_ext/engine/checkpoint/preemption.py``: PreemptionHook's arguments and the
checkpoint hook it needs (end to end: tests/integration/test_preemption.py)."""
import pytest


def test_preemption_hook_arguments_are_checked():
    from ssd_ext.engine.checkpoint import PreemptionHook
    with pytest.raises(ValueError, match=r"\['SIGTREM'\]"):
        PreemptionHook(signals=['SIGTERM', 'SIGTREM'])
    with pytest.raises(TypeError, match="'SIGTERM'"):
        PreemptionHook(signals='SIGTERM')
    with pytest.raises(ValueError, match='got 300'):
        PreemptionHook(exit_code=300)


def test_preemption_hook_needs_the_atomic_checkpoint_hook():
    from mmengine.hooks import CheckpointHook

    from ssd_ext.engine.checkpoint import PreemptionHook

    class Runner:
        hooks = [CheckpointHook(by_epoch=False)]

    with pytest.raises(ValueError, match=r"AtomicCheckpointHook.*\['CheckpointHook'\]"):
        PreemptionHook().checkpoint_hook(Runner())
