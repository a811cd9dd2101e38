"""Weights-only checkpoint loading that still reads MMEngine's checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7's
checkpoints hold a few non-tensor objects (the message hub's ``HistoryBuffer``
with its numpy arrays, schedulers' ``Counter`` milestones). Instead of turning
weights-only loading off, exactly those types are allow-listed, so a checkpoint
that carries any other pickled object (e.g. code to run) is still refused.

One entry needs care: ``HistoryBuffer`` pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``. Allowing the builtin ``getattr`` would let a
crafted file walk from any allowed object to arbitrary attributes, so the name
``builtins.getattr`` is bound to :func:`history_buffer_method` instead, which
only resolves ``HistoryBuffer``'s own statistics methods.

The allow-list is torch's, process-wide; adding to it is an explicit step, not
a side effect of importing ``ssd_ext``: :func:`safe_load` takes it before
loading, ``AllowCheckpointTypesHook`` before a Runner loads or resumes, and
``ssd_ext.engine.launch.build_runner`` for the Runners of ``tools/``.
"""
import collections
import os
import pickle
from typing import Any, List, Union

import numpy as np
import torch


# The statistics HistoryBuffer defines as methods and registers for every
# buffer; statistics registered later are functions of other modules, pickled by
# their own name rather than through getattr.
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_method(owner: Any, name: str) -> Any:
    """Stands in for ``getattr`` while unpickling: only ``HistoryBuffer`` statistics."""
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only '
        f'HistoryBuffer statistics methods may be looked up')


def mmengine_checkpoint_types() -> List[Any]:
    """The non-tensor types MMEngine's ``Runner.save_checkpoint`` writes."""
    from mmengine.logging import HistoryBuffer

    reconstruct = getattr(np, '_core', np.core).multiarray._reconstruct
    scalar = getattr(np, '_core', np.core).multiarray.scalar
    dtype_classes = [type(np.dtype(t)) for t in
                     (np.float64, np.float32, np.float16, np.int64, np.int32,
                      np.bool_, np.uint8)]
    return [HistoryBuffer, collections.Counter, np.ndarray, np.dtype, reconstruct,
            scalar, *dtype_classes, (history_buffer_method, 'builtins.getattr')]


def allow_mmengine_checkpoint_types() -> None:
    """Adds :func:`mmengine_checkpoint_types` to torch's weights-only allow-list
    (a set: adding them again changes nothing)."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())


def safe_load(path: Union[str, os.PathLike], map_location: Any = 'cpu',
              mmap: bool = False) -> Any:
    """``torch.load`` with weights-only loading; names the file when it refuses.

    ``mmap=True`` maps tensors instead of reading them, for callers that only
    check or inspect a file that is loaded again later; legacy (non-zip)
    checkpoints cannot be mapped and are read in full.
    """
    allow_mmengine_checkpoint_types()
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True,
                              mmap=mmap)
        except RuntimeError as err:
            if not (mmap and 'mmap' in str(err)):
                raise
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f'checkpoint not found: {path}') from None
    except pickle.UnpicklingError as err:  # how weights-only loading refuses a global
        raise RuntimeError(
            f'refusing to load {path}: it is not a weights-only checkpoint '
            f'(it holds objects outside the allow-list, which could run code '
            f'when unpickled). Underlying error: {err}') from err
    except Exception as err:  # e.g. a truncated download: not a safety matter
        raise RuntimeError(f'cannot read checkpoint {path} (damaged, or not a file '
                           f'torch.save wrote): {err}') from err
