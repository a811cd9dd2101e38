"""``'atomic_local'``: removals set aside until their replacement is written,
and put back after a failure or a kill."""
import os

import pytest

from ssd_ext.engine.checkpoint.atomic_backend import (AtomicLocalBackend, restore_set_aside,
                                                      set_aside_path)


def test_removal_set_aside_is_deleted_when_the_block_ends(tmp_path):
    backend, old = AtomicLocalBackend(), tmp_path / 'best_iter_1.pth'
    old.write_bytes(b'old best')
    with backend.removals_set_aside():
        backend.remove(old)
        assert not old.exists() and os.path.exists(set_aside_path(old))
        backend.put(b'new best', tmp_path / 'best_iter_2.pth')
    assert sorted(os.listdir(tmp_path)) == ['best_iter_2.pth']
    backend.remove(tmp_path / 'best_iter_2.pth')  # outside the block: deleted at once
    assert os.listdir(tmp_path) == []


def test_a_failed_replacement_puts_the_removed_file_back(tmp_path):
    backend, old = AtomicLocalBackend(), tmp_path / 'best_iter_1.pth'
    old.write_bytes(b'old best')
    with pytest.raises(OSError, match='disk full'):
        with backend.removals_set_aside():
            backend.remove(old)
            raise OSError('disk full')
    assert os.listdir(tmp_path) == ['best_iter_1.pth']
    assert old.read_bytes() == b'old best'


def test_a_replacement_under_the_same_name_is_kept_after_a_failure(tmp_path):
    backend, path = AtomicLocalBackend(), tmp_path / 'best_iter_2.pth'
    path.write_bytes(b'old best')
    with pytest.raises(RuntimeError):
        with backend.removals_set_aside():
            backend.remove(path)
            backend.put(b'new best', path)
            raise RuntimeError('after the write')
    assert os.listdir(tmp_path) == ['best_iter_2.pth']
    assert path.read_bytes() == b'new best'


def test_files_a_killed_run_set_aside_are_put_back(tmp_path):
    """What a kill between MMEngine's removal and the new write leaves."""
    lost, replaced = tmp_path / 'best_iter_1.pth', tmp_path / 'best_iter_3.pth'
    with open(set_aside_path(lost), 'wb') as f:
        f.write(b'old best')
    replaced.write_bytes(b'new')
    with open(set_aside_path(replaced), 'wb') as f:
        f.write(b'older')
    assert restore_set_aside(tmp_path) == [str(lost)]
    assert sorted(os.listdir(tmp_path)) == ['best_iter_1.pth', 'best_iter_3.pth']
    assert lost.read_bytes() == b'old best' and replaced.read_bytes() == b'new'
    assert restore_set_aside(tmp_path / 'missing') == []
