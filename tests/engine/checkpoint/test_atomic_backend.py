"""``'atomic_local'``: atomic writes, and removals deferred until the caller
has written what replaces them."""
import os

from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend
from ssd_ext.utils.checkpoint_io import is_partial_name


def test_puts_replace_the_file_whole(tmp_path):
    backend = AtomicLocalBackend()
    backend.put(b'old', tmp_path / 'iter_1.pth')
    backend.put(b'new', tmp_path / 'iter_1.pth')
    backend.put_text('iter_1.pth', tmp_path / 'last_checkpoint')
    assert (tmp_path / 'iter_1.pth').read_bytes() == b'new'
    assert (tmp_path / 'last_checkpoint').read_text() == 'iter_1.pth'
    assert not [n for n in os.listdir(tmp_path) if is_partial_name(n)]


def test_removals_in_the_block_are_only_recorded(tmp_path):
    old = tmp_path / 'best_iter_1.pth'
    old.write_bytes(b'old best')
    with AtomicLocalBackend.removals_deferred() as removed:
        AtomicLocalBackend().remove(old)  # MMEngine builds a backend per use
        assert old.read_bytes() == b'old best'
    assert removed == [str(old)]
    AtomicLocalBackend().remove(old)  # outside the block: deleted at once
    assert os.listdir(tmp_path) == []
