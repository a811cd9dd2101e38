"""AtomicCheckpointHook: atomic best checkpoints, the previous best kept until
the new one is written, and the checkpoint that last_checkpoint names is never
deleted."""
from typing import List

import pytest

from mmengine.fileio import LocalBackend

from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend
from ssd_ext.utils.checkpoint_io import atomic_torch_save, atomic_write, is_partial_name
from ssd_ext.engine.checkpoint.atomic_checkpoint_hook import AtomicCheckpointHook
from ssd_ext.utils.checkpoint_io import safe_load
from ssd_testkit.toy_training import toy_runner


def _hook(runner) -> AtomicCheckpointHook:
    return next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))


def test_writes_go_through_the_atomic_backend(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3)
    runner.train()
    assert isinstance(_hook(runner).backend(), AtomicLocalBackend)
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


def test_previous_best_is_deleted_once_the_new_one_is_written(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=2,
                        save_best='acc', rule='greater')
    runner.train()
    _hook(runner).after_val_epoch(runner, {'acc': 0.5})
    # Resumed from iter_2.pth, which records best_acc_iter_2.pth as the best.
    resumed = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3, save_best='acc',
                         rule='greater', resume_from=str(tmp_path / 'iter_2.pth'))
    resumed.train()
    _hook(resumed).after_val_epoch(resumed, {'acc': 0.7})
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'best_acc_iter_3.pth', 'iter_2.pth', 'iter_3.pth']


def test_previous_best_survives_a_failed_or_killed_save_of_the_new_one(tmp_path, monkeypatch):
    """MMEngine removes the old best before saving the new one: the removal
    waits until the new one is written."""
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=2,
                        save_best='acc', rule='greater')
    runner.train()
    hook = _hook(runner)
    hook.after_val_epoch(runner, {'acc': 0.5})
    best = tmp_path / 'best_acc_iter_2.pth'

    def failing_save(*args, **kwargs):
        assert safe_load(best)['meta']['iter'] == 2  # what a kill here would leave
        raise OSError('disk full')

    monkeypatch.setattr(runner, 'save_checkpoint', failing_save)
    with pytest.raises(OSError, match='disk full'):
        hook.after_val_epoch(runner, {'acc': 0.7})
    assert safe_load(best)['meta']['iter'] == 2
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == [
        'best_acc_iter_2.pth', 'iter_2.pth']


def test_checkpoint_named_by_last_checkpoint_is_never_deleted(tmp_path):
    class _Runner:
        work_dir = str(tmp_path)

        class logger:  # noqa: N801
            messages: List[str] = []

            @classmethod
            def info(cls, msg):
                cls.messages.append(msg)

    hook = AtomicCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1,
                                out_dir=str(tmp_path))
    for step in (1, 2):
        atomic_torch_save({'step': step}, tmp_path / f'iter_{step}.pth')
    atomic_write(tmp_path / 'last_checkpoint', str(tmp_path / 'iter_1.pth'))
    hook.remove_checkpoints(_Runner, [1, 2])
    assert (tmp_path / 'iter_1.pth').exists() and not (tmp_path / 'iter_2.pth').exists()
    assert 'last_checkpoint names it' in _Runner.logger.messages[0]


def test_other_storage_keeps_its_backend(tmp_path):
    runner = toy_runner(tmp_path, 0, tmp_path / 'loads', max_iters=3,
                        backend_args=dict(backend='local'))
    runner.train()
    assert type(_hook(runner).backend()) is LocalBackend
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_3.pth']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_3.pth')


def test_only_a_local_out_dir_defaults_to_the_atomic_backend():
    assert AtomicCheckpointHook(out_dir='/data/ckpts').backend_args == dict(backend='atomic_local')
    assert AtomicCheckpointHook().backend_args == dict(backend='atomic_local')
    assert AtomicCheckpointHook(out_dir='s3://bucket/ckpts').backend_args is None
    given = dict(backend='local')
    assert AtomicCheckpointHook(backend_args=given).backend_args is given


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
