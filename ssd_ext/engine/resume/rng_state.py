"""Python, NumPy and torch RNG states in a form ``torch.load(weights_only=True)`` reads.

``random.getstate()`` is a tuple of ints (fine as is, but stored as a tensor to
keep checkpoints small); ``np.random.get_state()`` holds a ``uint32`` ndarray,
which the weights-only unpickler refuses, so its key is stored as an int64
tensor; torch's (and CUDA's) states are already ``uint8`` tensors.
"""
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator

import numpy as np
import torch


def get_rng_state(include_cuda: bool = True) -> Dict[str, Any]:
    """The global RNG states of this process (python ``random``, NumPy, torch)."""
    py_version, py_key, py_gauss = random.getstate()
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state = dict(
        python=dict(version=int(py_version),
                    key=torch.tensor(py_key, dtype=torch.int64),
                    gauss_next=py_gauss),
        numpy=dict(bit_generator=str(np_name),
                   key=torch.from_numpy(np_key.astype(np.int64)),
                   pos=int(np_pos), has_gauss=int(np_has_gauss),
                   cached_gaussian=float(np_gauss)),
        torch=torch.get_rng_state())
    if include_cuda and torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restores what :func:`get_rng_state` returned."""
    py = state['python']
    random.setstate((py['version'], tuple(int(v) for v in py['key'].tolist()),
                     py['gauss_next']))
    nps = state['numpy']
    np.random.set_state((nps['bit_generator'],
                         nps['key'].numpy().astype(np.uint32), nps['pos'],
                         nps['has_gauss'], nps['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        # A checkpoint of a machine with more visible GPUs (or a launcher that
        # shows each process one GPU) has states for devices this process lacks:
        # torch.cuda.set_rng_state_all would fail on the first missing ordinal.
        for device, cuda_state in enumerate(state['cuda'][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device)


@contextmanager
def preserved_rng_state() -> Iterator[Dict[str, Any]]:
    """Runs a block without disturbing the global RNG streams (it may use them)."""
    state = get_rng_state()
    try:
        yield state
    finally:
        set_rng_state(state)
