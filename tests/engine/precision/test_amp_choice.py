"""``--amp`` follows the hardware: bf16 only on CPUs that run it natively."""
import argparse
import os
import platform
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from ssd_ext.engine import launch
from ssd_ext.engine.precision import amp_choice
from ssd_ext.engine.precision.amp_choice import resolve_amp_dtype
from ssd_ext.utils.machine import cpu_has_native_bf16

AVX2_ONLY = dict(ONEDNN_MAX_CPU_ISA='AVX2', ATEN_CPU_CAPABILITY='avx2')


def amp_report(env_overrides: dict) -> str:
    env = dict(os.environ, **env_overrides)
    return subprocess.run([sys.executable, '-m', 'ssd_ext.engine.precision.amp_choice'], env=env,
                          check=True, stdout=subprocess.PIPE, text=True).stdout


def test_auto_is_bf16_exactly_where_onednn_runs_it_natively():
    expected = 'bfloat16' if cpu_has_native_bf16() else None
    assert resolve_amp_dtype('auto', cuda=False) == expected
    assert resolve_amp_dtype('auto', cuda=True) == 'float16'
    assert resolve_amp_dtype('bfloat16', cuda=False) == 'bfloat16'  # forcing is allowed
    with pytest.raises(ValueError, match="got 'half'"):
        resolve_amp_dtype('half')


@pytest.mark.skipif(platform.machine() not in ('x86_64', 'AMD64'),
                    reason='the AVX2 emulation is for x86-64 CPUs')
def test_emulated_avx2_cpu_reports_no_native_bf16_and_amp_means_fp32():
    out = amp_report(AVX2_ONLY)
    assert 'ATen AVX2, native bf16: no' in out
    assert '--amp: fp32 on this CPU' in out


@pytest.mark.skipif(not cpu_has_native_bf16(), reason='this CPU has no native bf16 '
                    '(AMX or AVX512-BF16)')
def test_native_bf16_cpu_autocasts_to_bf16():
    assert '--amp: CPU autocast to bfloat16 (native bf16 on this CPU)' in amp_report({})


@pytest.mark.parametrize('native', [True, False])
def test_train_amp_on_cpu_swaps_the_wrapper_only_with_native_bf16(repo_root, monkeypatch,
                                                                  native):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(amp_choice, 'cpu_has_native_bf16', lambda: native)
    cfg = Config.fromfile(str(repo_root / 'configs/quickstart/ssd160_shapes.py'))
    chosen = launch.enable_amp(cfg, training=True)
    if native:
        assert chosen == 'bfloat16'
        assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
        assert cfg.val_cfg.fp16 and cfg.test_cfg.fp16
    else:
        assert chosen is None
        assert cfg.optim_wrapper.type == 'OptimWrapper'
        assert not cfg.val_cfg.get('fp16') and not cfg.test_cfg.get('fp16')
    forced = Config.fromfile(str(repo_root / 'configs/quickstart/ssd160_shapes.py'))
    assert launch.enable_amp(forced, training=True, dtype='bfloat16') == 'bfloat16'
    assert forced.optim_wrapper.type == 'CPUAutocastOptimWrapper'


def test_amp_falls_back_to_a_plain_wrapper_where_fp32_is_chosen(repo_root, monkeypatch):
    """A config that names MMEngine's (GPU-only) AmpOptimWrapper still trains
    on a CPU without native bf16."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(amp_choice, 'cpu_has_native_bf16', lambda: False)
    cfg = Config.fromfile(str(repo_root / 'configs/quickstart/ssd160_shapes.py'))
    cfg.optim_wrapper.update(type='AmpOptimWrapper', loss_scale='dynamic')
    assert launch.enable_amp(cfg, training=True) is None
    assert cfg.optim_wrapper.type == 'OptimWrapper' and 'loss_scale' not in cfg.optim_wrapper


def test_testing_refuses_a_dtype_the_test_loop_cannot_autocast_to(repo_root, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config.fromfile(str(repo_root / 'configs/quickstart/ssd160_shapes.py'))
    with pytest.raises(ValueError, match='--amp-dtype float16 for testing'):
        launch.enable_amp(cfg, training=False, dtype='float16')
    # training in fp16 on a CPU: validation stays fp32 instead of bf16
    assert launch.enable_amp(cfg, training=True, dtype='float16') == 'float16'
    assert not cfg.val_cfg.get('fp16')


@pytest.mark.parametrize('argv, expected', [([], None), (['--channels-last'], True),
                                            (['--no-channels-last'], False)])
def test_channels_last_flag_has_three_states(argv, expected):
    parser = argparse.ArgumentParser()
    launch.add_runner_args(parser)
    assert parser.parse_args(argv).channels_last is expected
