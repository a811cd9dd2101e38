"""Weights-only loading: code smuggled into a checkpoint is refused, not run.

A checkpoint whose pickle would run a command (``__reduce__`` returning
``os.system``) must be refused by ``safe_load`` and by ``tools/test.py`` with a
clear error, and the command's marker file must not appear. ``builtins.getattr``
is allowed only for ``HistoryBuffer``'s statistics methods. Real MMEngine
checkpoints (message hub ``HistoryBuffer``s, numpy arrays, ``Counter``s) load,
and a Runner resumes from one with ``AllowCheckpointTypesHook``. Importing
``ssd_ext`` leaves torch's allow-list alone.
"""
import collections
import os
import pickle
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from ssd_ext.utils.checkpoint_io import mmengine_checkpoint_types, safe_load
from ssd_testkit import DIR as TESTKIT_DIR


class RunsCommand:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class Smuggle:
    """Unpickling this calls ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


def evil_checkpoint(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': RunsCommand(marker)}, path)
    return path, marker


def test_safe_load_refuses_code_and_does_not_run_it(tmp_path):
    path, marker = evil_checkpoint(tmp_path)
    with pytest.raises(RuntimeError) as info:
        safe_load(path)
    msg = str(info.value)
    assert f'refusing to load {path}' in msg and 'not a weights-only checkpoint' in msg
    assert 'system' in msg  # the underlying error names the refused global
    assert not marker.exists()


def test_tools_test_refuses_code_and_does_not_run_it(repo_root, tmp_path):
    path, marker = evil_checkpoint(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(repo_root / 'tools' / 'test.py'),
         str(repo_root / 'configs' / 'quickstart' / 'ssd160_shapes.py'), str(path),
         '--work-dir', str(tmp_path / 'work')],
        capture_output=True, text=True, cwd=repo_root, timeout=300)
    assert proc.returncode != 0
    assert f'refusing to load {path}' in proc.stderr, proc.stderr[-3000:]
    assert not marker.exists()


def test_unreadable_file_is_reported_as_such_not_as_unsafe(tmp_path):
    path, _ = evil_checkpoint(tmp_path)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(path.read_bytes()[:100])
    for bad in (truncated, tmp_path):
        with pytest.raises(RuntimeError, match=f'cannot read checkpoint {bad} ') as info:
            safe_load(bad)
        assert 'weights-only' not in str(info.value)


@pytest.mark.parametrize('owner, name', [
    (HistoryBuffer, '__init__'),
    (HistoryBuffer, '__class__'),
    (HistoryBuffer, 'register_statistics'),
    (collections.Counter, 'fromkeys'),
    (np.ndarray, 'tofile'),
])
def test_getattr_smuggling_is_refused(tmp_path, owner, name):
    path = tmp_path / 'smuggle.pth'
    torch.save({'state_dict': {}, 'x': Smuggle(owner, name)}, path)
    with pytest.raises(RuntimeError) as info:
        safe_load(path)
    assert 'refusing getattr' in str(info.value)


def test_getattr_of_history_buffer_statistics_loads(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save({'m': Smuggle(HistoryBuffer, 'mean')}, path)
    assert safe_load(path)['m'] is HistoryBuffer.mean


def test_mmengine_objects_load(tmp_path):
    buf = HistoryBuffer()
    for v in (1.0, 2.0, 4.0):
        buf.update(v)
    path = tmp_path / 'ok.pth'
    torch.save({'state_dict': {'w': torch.ones(3)},
                'message_hub': {'log_scalars': {'train/loss': buf},
                                'runtime_info': {'iter': np.int64(3),
                                                 'arr': np.arange(3.0)}},
                'milestones': collections.Counter({10: 1, 20: 1})}, path)
    ckpt = safe_load(path)
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(7 / 3)
    assert ckpt['milestones'] == collections.Counter({10: 1, 20: 1})
    np.testing.assert_array_equal(ckpt['message_hub']['runtime_info']['arr'],
                                  np.arange(3.0))


class Tiny(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return dict(loss=self.linear(torch.stack(inputs)).pow(2).mean())


def tiny_runner(work_dir, max_iters, **kwargs) -> Runner:
    """A Runner saving a checkpoint every 2 iterations into ``work_dir``."""
    data = [dict(inputs=torch.randn(2)) for _ in range(8)]
    default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False))
    default_hooks.update(kwargs.pop('default_hooks', {}))
    return Runner(
        model=Tiny(), work_dir=str(work_dir),
        experiment_name=f'safe_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(dataset=data, batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='MultiStepLR', by_epoch=False, milestones=[1]),
        default_hooks=default_hooks, default_scope='mmdet', log_level='WARNING', **kwargs)


def test_checkpoint_of_a_real_runner_loads(tmp_path):
    tiny_runner(tmp_path / 'work', max_iters=2).train()
    ckpt = safe_load(tmp_path / 'work' / 'iter_2.pth')
    assert ckpt['meta']['iter'] == 2
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert isinstance(ckpt['param_schedulers'][0]['milestones'], collections.Counter)


@pytest.fixture
def empty_allow_list():
    """torch's allow-list emptied for the test, restored after it."""
    before = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(before)


def test_runner_resumes_with_the_hook(tmp_path, empty_allow_list):
    work = tmp_path / 'work'
    tiny_runner(work, max_iters=2).train()
    torch.serialization.clear_safe_globals()
    # MMEngine 0.10.7 resumes with torch.load's default: weights-only on torch >= 2.6.
    with pytest.raises(pickle.UnpicklingError):
        tiny_runner(work, max_iters=4, resume=True).train()
    hook = dict(checkpoint_types=dict(type='AllowCheckpointTypesHook'))
    runner = tiny_runner(work, max_iters=4, resume=True, default_hooks=hook)
    runner.train()
    assert runner.iter == 4
    assert safe_load(work / 'iter_4.pth')['meta']['iter'] == 4


def test_importing_ssd_ext_leaves_the_allow_list_alone():
    script = TESTKIT_DIR / 'allow_list_after_import.py'
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1] == 'set()'


def test_safe_load_allow_lists_what_it_needs(tmp_path, empty_allow_list):
    path = tmp_path / 'ok.pth'
    torch.save({'milestones': collections.Counter({10: 1})}, path)
    assert safe_load(path)['milestones'] == collections.Counter({10: 1})
    assert set(mmengine_checkpoint_types()) <= set(torch.serialization.get_safe_globals())
