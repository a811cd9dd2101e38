"""Which entries of a checkpoint hold NaN/inf, so that it is never written.

The guard keeps non-finite updates out of the weights; this scan is the last
line of defence for whatever reached them anyway (an optimizer that wrote NaN
from finite gradients, weights loaded that way).
"""
from typing import Any, Dict, Iterator, List, Tuple

from ssd_ext.engine.nonfinite.tensors import nonfinite_names


def _optimizer_states(optimizer: Any) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """``(key, per-parameter state)`` of one optimizer ``state_dict`` or of an
    ``OptimWrapperDict``'s ``{name: state_dict}`` (keys then ``name.key``)."""
    if not isinstance(optimizer, dict):
        return
    if 'state' in optimizer:
        yield from optimizer['state'].items()
        return
    for name, state_dict in optimizer.items():
        if isinstance(state_dict, dict):
            for key, state in state_dict.get('state', {}).items():
                yield f'{name}.{key}', state


def nonfinite_checkpoint_entries(checkpoint: Dict[str, Any]) -> List[str]:
    """Names of the weights (``state_dict`` keys) and optimizer state entries
    (``optimizer state KEY.NAME``) holding NaN or inf; empty for a sound one."""
    bad = nonfinite_names(checkpoint.get('state_dict', {}).items())
    for key, state in _optimizer_states(checkpoint.get('optimizer')):
        if isinstance(state, dict):
            bad += [f'optimizer state {key}.{name}'
                    for name in nonfinite_names(state.items())]
    return bad
