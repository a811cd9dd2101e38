"""``ssd_ext/engine/checkpoint/preemption.py``: PreemptionHook's arguments and the
checkpoint hook it needs (end to end: tests/integration/test_preemption.py)."""
import pytest
import torch


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


def _blocked_signals(_=None):
    import signal
    return sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))


def _report_mask_and_wait(masks):
    import signal
    masks.put(_blocked_signals())
    signal.pause()


class _Masks(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        return torch.tensor(_blocked_signals())


def test_only_data_loader_workers_start_with_the_signals_blocked(monkeypatch):
    """A DataLoader worker keeps a preempting SIGTERM pending; a metric's Pool
    worker, which its parent stops with SIGTERM, must not (it would never end)."""
    import multiprocessing
    import signal

    from ssd_ext.engine.checkpoint import preemption
    monkeypatch.setattr(preemption, '_BLOCKED_IN_CHILDREN', (signal.SIGTERM, ))
    loader = torch.utils.data.DataLoader(_Masks(), num_workers=1,
                                         multiprocessing_context='fork')
    assert signal.SIGTERM in next(iter(loader))[0].tolist()
    context = multiprocessing.get_context('fork')
    masks = context.SimpleQueue()
    other = context.Process(target=_report_mask_and_wait, args=(masks, ))
    other.start()  # as a Pool starts its workers
    try:
        assert signal.SIGTERM not in masks.get()
        other.terminate()  # how Pool.terminate stops them: SIGTERM
        other.join(timeout=30)
        assert other.exitcode == -signal.SIGTERM
    finally:
        other.kill()
    assert signal.SIGTERM not in _blocked_signals()
