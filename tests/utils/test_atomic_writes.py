"""Atomic writes: a reader sees the old file or the new one, even after SIGKILL."""
import os
import re
import signal
import subprocess
import sys

import pytest
import torch

from ssd_ext.utils.checkpoint_io import (PARTIAL_MARK, atomic_open, atomic_torch_save,
                                         atomic_write, is_partial_name, partial_path,
                                         remove_stale_partials)
from ssd_testkit import DIR as TESTKIT_DIR
from ssd_testkit.subprocess_utils import wait_for

STALLED_SAVE = TESTKIT_DIR / 'stalled_save.py'


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / 'sub' / 'last_checkpoint'
    atomic_write(target, 'first')
    atomic_write(target, 'second')
    assert target.read_text() == 'second'
    atomic_write(tmp_path / 'blob', b'\x00\x01')
    assert (tmp_path / 'blob').read_bytes() == b'\x00\x01'
    assert not [p for p in tmp_path.rglob('*') if is_partial_name(p.name)]


def test_failed_atomic_write_keeps_old_file(tmp_path):
    target = tmp_path / 'ckpt.pth'
    atomic_torch_save({'v': 1}, target)
    with pytest.raises(RuntimeError):
        with atomic_open(target, 'wb') as f:
            f.write(b'torn')
            raise RuntimeError('interrupted')
    assert torch.load(target, weights_only=True) == {'v': 1}
    assert sorted(os.listdir(tmp_path)) == ['ckpt.pth']


@pytest.mark.parametrize('mode', ['x', 'xb', 'a', 'r+b', 'w+'])
def test_atomic_open_refuses_modes_it_cannot_honour(tmp_path, mode):
    target = tmp_path / 'ckpt.pth'
    atomic_write(target, b'old')
    with pytest.raises(ValueError, match=re.escape(f'mode {mode!r} is not allowed')):
        with atomic_open(target, mode):
            pass
    assert target.read_bytes() == b'old'
    assert sorted(os.listdir(tmp_path)) == ['ckpt.pth']


def test_partial_names():
    name = os.path.basename(partial_path('/x/iter_4.pth'))
    assert name == f'.iter_4.pth.partial-{os.getpid()}'
    assert is_partial_name(name)
    assert not is_partial_name('iter_4.pth')
    assert not is_partial_name('.iter_4.pth.partial-')
    assert not name.endswith('.pth')


def test_sigkill_during_atomic_torch_save(tmp_path, repo_root):
    target, marker = tmp_path / 'ckpt.pth', tmp_path / 'saving'
    atomic_torch_save({'v': 1}, target)
    proc = subprocess.Popen([sys.executable, str(STALLED_SAVE), str(target), str(marker)],
                            cwd=repo_root)
    try:
        wait_for(marker.exists, proc, 120, 'the save to start')
        partials = [p for p in tmp_path.iterdir() if is_partial_name(p.name)]
        assert len(partials) == 1  # the new checkpoint was being written
    finally:
        proc.kill()  # SIGKILL
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(target, weights_only=True) == {'v': 1}
    assert remove_stale_partials(tmp_path) == [str(partials[0])]
    assert sorted(os.listdir(tmp_path)) == ['ckpt.pth', 'saving']


def test_partials_of_running_writers_are_kept(tmp_path):
    """Only partial files whose writer is gone are stale: another process's save
    in progress (here a live child's pid) must survive the clean-up."""
    running = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    finished = subprocess.Popen([sys.executable, '-c', 'pass'])
    finished.wait()
    try:
        names = {pid: f'.metrics.json{PARTIAL_MARK}{pid}'
                 for pid in (running.pid, finished.pid, os.getpid())}
        for name in names.values():
            (tmp_path / name).write_text('partial')
        removed = remove_stale_partials(tmp_path)
    finally:
        running.kill()
        running.wait()
    assert sorted(removed) == sorted(str(tmp_path / names[pid])
                                     for pid in (finished.pid, os.getpid()))
    assert os.listdir(tmp_path) == [names[running.pid]]
