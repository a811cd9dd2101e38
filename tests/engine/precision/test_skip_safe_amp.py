"""GPU ``--amp`` training: a step the loss scaler skips must not corrupt the weights.

The failure reported from an H200 (issue 14): the base schedule's fused SGD allocates its momentum
buffers uninitialised on the first step; when the loss scaler skips that step the
kernel leaves them so, and the next step adds whatever the memory held. The test
goes through the project's own path (the config's optimizer, ``enable_amp`` as on
a GPU, MMEngine's ``build_optim_wrapper``) with CUDA's availability faked and a
CPU loss scaler in place of the CUDA one, leaves large values in freed memory of
the buffers' sizes first, and compares with the unfused update.
"""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import nn

from ssd_ext.engine.launch import enable_amp
from ssd_ext.engine.precision.skip_safe_amp import SkipSafeAmpOptimWrapper, needs_zero_fill


def small_net() -> nn.Module:
    torch.manual_seed(0)
    # No conv bias before the norm (as in conv_norm_relu): its gradient would be
    # rounding noise, which Adam scales up to full-size updates.
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 6 * 6, 4))


def leave_junk_in_freed_memory(params) -> None:
    """Freed blocks of the parameters' sizes now hold 1e30: an uninitialised
    buffer of that size is then likely to read it."""
    junk = [torch.full_like(p, 1e30) for p in params for _ in range(4)]
    del junk


def fake_one_gpu(monkeypatch) -> None:
    """CUDA as MMEngine's checks and logger see it on a one-GPU machine."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)


def gpu_amp_wrapper(cfg: Config, model: nn.Module, monkeypatch):
    """``--amp`` on a GPU, built on the CPU: CUDA faked for MMEngine's check,
    a CPU loss scaler in place of the CUDA one."""
    fake_one_gpu(monkeypatch)
    assert enable_amp(cfg, training=True) == 'float16'
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    monkeypatch.undo()
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 16)
    return wrapper


@pytest.mark.parametrize('config', ['configs/ssd300.py', 'configs/quickstart/ssd160_shapes.py'])
@pytest.mark.parametrize('fused', [True, False])
def test_step_skipped_by_loss_scaler_leaves_weights_and_next_step_is_unfused(
        repo_root, config, fused, monkeypatch):
    cfg = Config.fromfile(str(repo_root / config))
    cfg.optim_wrapper.optimizer.fused = fused  # the configs' optimizer, fused or not
    model = small_net()
    wrapper = gpu_amp_wrapper(cfg, model, monkeypatch)
    assert isinstance(wrapper, SkipSafeAmpOptimWrapper)
    check_skipped_step_then_unfused_update(cfg, model, wrapper, torch.randn(2, 3, 8, 8))


def check_skipped_step_then_unfused_update(cfg: Config, model: nn.Module, wrapper,
                                           x: torch.Tensor) -> None:
    """With junk in freed memory: a step that overflows ``wrapper``'s loss scaler
    (at 2**16) leaves ``model``'s weights, and the next step equals one step of
    ``cfg``'s optimizer, unfused, on a copy of the untouched model."""
    reference = copy.deepcopy(model)
    before = [p.detach().clone() for p in model.parameters()]

    leave_junk_in_freed_memory(model.parameters())
    wrapper.update_params(model(x).sum() * float('inf'))  # overflows: step skipped
    assert wrapper.loss_scaler.get_scale() == 2.0 ** 15
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p, b)
    # Whatever the allocator handed out: fused groups' buffers now exist, zeroed.
    optimizer = wrapper.optimizer
    for group in optimizer.param_groups:
        if needs_zero_fill(optimizer, group):
            for p in group['params']:
                assert not optimizer.state[p]['momentum_buffer'].any()

    leave_junk_in_freed_memory(model.parameters())
    wrapper.update_params(model(x).sum())
    # The unfused optimizer of the same config, stepped once on the same loss.
    ref_cfg = copy.deepcopy(cfg.optim_wrapper.optimizer)
    ref_cfg.fused = False
    ref_wrapper = build_optim_wrapper(reference, dict(type='OptimWrapper', optimizer=ref_cfg))
    ref_wrapper.update_params(reference(x).sum())
    for (name, p), r in zip(model.named_parameters(), reference.parameters()):
        assert torch.isfinite(p).all(), name
        torch.testing.assert_close(p, r, rtol=1e-5, atol=1e-6, msg=name)


def test_amp_wrapper_refuses_sgd_dampening_it_cannot_reproduce(repo_root, monkeypatch):
    cfg = Config.fromfile(str(repo_root / 'configs/ssd300.py'))
    cfg.optim_wrapper.optimizer.dampening = 0.1
    with pytest.raises(ValueError, match='dampening=0.1'):
        gpu_amp_wrapper(cfg, small_net(), monkeypatch)


def test_amp_wrapper_leaves_unfused_sgd_with_dampening_alone(repo_root, monkeypatch):
    cfg = Config.fromfile(str(repo_root / 'configs/ssd300.py'))
    cfg.optim_wrapper.optimizer.update(dampening=0.1, fused=False)
    assert isinstance(gpu_amp_wrapper(cfg, small_net(), monkeypatch), SkipSafeAmpOptimWrapper)


def test_every_config_under_amp_gets_a_skip_safe_wrapper_on_gpu(repo_root, monkeypatch):
    """No config's optimizer reaches MMEngine's plain AmpOptimWrapper via --amp."""
    for path in sorted((repo_root / 'configs').rglob('*.py')):
        if '_base_' in path.parts:
            continue
        wrapper = gpu_amp_wrapper(Config.fromfile(str(path)), small_net(), monkeypatch)
        assert isinstance(wrapper, SkipSafeAmpOptimWrapper), path
