"""``ssd_ext/engine/launch/restarts.py``: what an elastic restart resumes from, and
the PreemptionHook every run gets (end to end: tests/integration/test_preemption.py)."""
import pytest


def test_elastic_restart_resumes_only_where_a_checkpoint_is(tmp_path, monkeypatch):
    from ssd_ext.engine.launch.restarts import resume_after_restart
    monkeypatch.delenv('TORCHELASTIC_RESTART_COUNT', raising=False)
    assert resume_after_restart(None, str(tmp_path)) is None
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '0')
    assert resume_after_restart('a.pth', str(tmp_path)) == 'a.pth'
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '2')
    assert resume_after_restart('a.pth', str(tmp_path)) == 'a.pth'  # nothing saved yet
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_3.pth'))
    assert resume_after_restart('a.pth', str(tmp_path)) == 'auto'
    assert resume_after_restart(None, str(tmp_path)) == 'auto'
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', 'x')
    with pytest.raises(ValueError, match="TORCHELASTIC_RESTART_COUNT='x'"):
        resume_after_restart(None, str(tmp_path))


def test_build_runner_adds_the_hook_once():
    from mmengine.config import Config

    from ssd_ext.engine.launch.restarts import add_preemption_hook
    cfg = Config(dict(custom_hooks=[dict(type='NonFiniteLossHook')]))
    add_preemption_hook(cfg)
    add_preemption_hook(cfg)
    assert [h['type'] for h in cfg.custom_hooks] == ['NonFiniteLossHook', 'PreemptionHook']
    mine = Config(dict(custom_hooks=[dict(type='PreemptionHook', signals=['SIGUSR2'])]))
    add_preemption_hook(mine)
    assert mine.custom_hooks == [dict(type='PreemptionHook', signals=['SIGUSR2'])]
