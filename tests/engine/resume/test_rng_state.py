"""RNG states survive a weights-only checkpoint."""
import random

import numpy as np
import torch

from ssd_ext.engine.checkpoint.atomic_io import atomic_torch_save
from ssd_ext.engine.resume.rng_state import get_rng_state, preserved_rng_state, set_rng_state
from ssd_ext.utils.checkpoint import safe_load


def _draws():
    return (random.random(), float(np.random.rand()), np.random.randn(3).tolist(),
            torch.rand(4).tolist())


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in NumPy's state
    atomic_torch_save({'rng': get_rng_state()}, tmp_path / 'rng.pth')
    expected = _draws()
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    set_rng_state(safe_load(tmp_path / 'rng.pth')['rng'])
    assert _draws() == expected


def test_preserved_rng_state_undoes_the_blocks_draws():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    expected = _draws()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    with preserved_rng_state():
        _draws()
    assert _draws() == expected


def test_cuda_states_of_more_gpus_than_visible_restore_the_visible_ones(monkeypatch):
    """A checkpoint written with 8 visible GPUs, resumed where the process sees
    2: the first two states are restored, the others cannot be (no such device)."""
    restored = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    monkeypatch.setattr(torch.cuda, 'set_rng_state',
                        lambda new_state, device: restored.append((device, new_state)))
    state = get_rng_state(include_cuda=False)
    state['cuda'] = [torch.full((4,), i, dtype=torch.uint8) for i in range(8)]
    set_rng_state(state)
    assert [(device, s.tolist()) for device, s in restored] == [(0, [0] * 4), (1, [1] * 4)]
