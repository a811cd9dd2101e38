"""AtomicCheckpointHook: atomic best checkpoints, the previous best kept until
the new one is written, and the checkpoint that last_checkpoint names is never
deleted."""
import os
from typing import List

import pytest

from mmengine.fileio import LocalBackend

from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend, set_aside_path
from ssd_ext.engine.checkpoint.atomic_io import atomic_torch_save, atomic_write, is_partial_name
from ssd_ext.engine.checkpoint.hook import AtomicCheckpointHook
from ssd_ext.utils.checkpoint import safe_load
from toy_training import toy_runner


def _hook(runner) -> AtomicCheckpointHook:
    return next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))


def test_writes_go_through_the_atomic_backend(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3)
    runner.train()
    hook = _hook(runner)
    assert hook.atomic and isinstance(hook.file_backend, AtomicLocalBackend)
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_3.pth')


def test_best_checkpoints_are_written_atomically(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=2,
                        save_best='acc', rule='greater')
    runner.train()
    hook = _hook(runner)
    hook.after_val_epoch(runner, {'acc': 0.5})
    hook.after_val_epoch(runner, {'acc': 0.7})
    best = tmp_path / 'best_acc_iter_2.pth'
    assert hook.best_ckpt_path == str(best)
    assert safe_load(best)['meta']['iter'] == 2
    assert runner.message_hub.get_info('best_score') == 0.7
    # The step checkpoint was saved again and records the new best.
    step_ckpt = safe_load(tmp_path / 'iter_2.pth')
    assert step_ckpt['message_hub']['runtime_info']['best_score'] == 0.7
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'best_acc_iter_2.pth', 'iter_2.pth']
    assert not [p for p in tmp_path.iterdir() if is_partial_name(p.name)]


def test_previous_best_survives_a_failed_save_of_the_new_one(tmp_path, monkeypatch):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=2,
                        save_best='acc', rule='greater')
    runner.train()
    hook = _hook(runner)
    hook.after_val_epoch(runner, {'acc': 0.5})
    best = tmp_path / 'best_acc_iter_2.pth'
    monkeypatch.setattr(runner, 'save_checkpoint',
                        lambda *a, **k: (_ for _ in ()).throw(OSError('disk full')))
    with pytest.raises(OSError, match='disk full'):
        hook.after_val_epoch(runner, {'acc': 0.7})
    # MMEngine removed the old best before the save; it is back, whole.
    assert safe_load(best)['meta']['iter'] == 2
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'best_acc_iter_2.pth', 'iter_2.pth']


def test_a_best_checkpoint_a_kill_left_aside_is_put_back(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=2,
                        save_best='acc', rule='greater')
    runner.train()
    _hook(runner).after_val_epoch(runner, {'acc': 0.5})
    best = tmp_path / 'best_acc_iter_2.pth'
    os.replace(best, set_aside_path(best))  # killed after MMEngine's removal
    resumed = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3,
                         save_best='acc', rule='greater',
                         resume_from=str(tmp_path / 'iter_2.pth'))
    resumed.train()
    assert safe_load(best)['meta']['iter'] == 2
    assert not os.path.exists(set_aside_path(best))


def test_checkpoint_named_by_last_checkpoint_is_never_deleted(tmp_path):
    class _Runner:
        work_dir = str(tmp_path)

        class logger:  # noqa: N801
            messages: List[str] = []

            @classmethod
            def info(cls, msg):
                cls.messages.append(msg)

    hook = AtomicCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1)
    hook.atomic, hook.out_dir, hook.file_backend = True, str(tmp_path), AtomicLocalBackend()
    for step in (1, 2):
        atomic_torch_save({'step': step}, tmp_path / f'iter_{step}.pth')
    atomic_write(tmp_path / 'last_checkpoint', str(tmp_path / 'iter_1.pth'))
    hook.remove_checkpoints(_Runner, [1, 2])
    assert (tmp_path / 'iter_1.pth').exists() and not (tmp_path / 'iter_2.pth').exists()
    assert 'last_checkpoint points to it' in _Runner.logger.messages[0]


def test_other_storage_falls_back_to_mmengines_hook(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3,
                        backend_args=dict(backend='local'))
    runner.train()
    hook = _hook(runner)
    assert not hook.atomic
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth']


class RemoteStorage(LocalBackend):
    """Stands in for the backend MMEngine infers for remote storage (s3://...)."""


def test_only_a_plain_local_out_dir_switches_to_the_atomic_backend():
    hook = AtomicCheckpointHook(interval=1, by_epoch=False)
    hook.file_backend = LocalBackend()  # what MMEngine infers for a local out_dir
    assert hook.select_atomic_backend()
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    assert hook.backend_args == dict(backend='atomic_local')

    remote = AtomicCheckpointHook(interval=1, by_epoch=False)
    remote.file_backend = RemoteStorage()
    assert not remote.select_atomic_backend()
    assert type(remote.file_backend) is RemoteStorage and remote.backend_args is None


def test_resume_with_fewer_kept_checkpoints_spares_the_pointer_target(tmp_path):
    """A resumed keep list longer than max_keep_ckpts is trimmed, but never the
    checkpoint last_checkpoint names (MMEngine deletes the dropped ones blindly)."""
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3, interval=1,
                        max_keep_ckpts=3)
    runner.train()
    del runner
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'iter_1.pth', 'iter_2.pth', 'iter_3.pth']
    # last_checkpoint names an older checkpoint than the one resumed.
    atomic_write(tmp_path / 'last_checkpoint', str(tmp_path / 'iter_1.pth'))
    resumed = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3, interval=1,
                         max_keep_ckpts=1, resume_from=str(tmp_path / 'iter_3.pth'))
    resumed.train()
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth', 'iter_3.pth']
    assert resumed.message_hub.get_info('keep_ckpt_ids') == [3]
