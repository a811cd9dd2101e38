"""``StrictPretrained``: the weight initialiser for weights that must all load.

MMEngine 0.10.7's ``Pretrained`` loads with ``strict=False``: a wrong or truncated
file only warns, and training goes on from a partly random network. This one
refuses instead, naming what is wrong:

- every tensor of the module must come from the file with its shape; missing,
  unexpected or mis-shaped keys are one error listing them;
- the file is read weights-only (no pickled code) and every value must be
  finite;
- its sha256 must match (``checksum.py``);
- it is found offline (``locate.py``).

``reinit`` names key prefixes that are re-initialised instead of loaded: a
fine-tune's class logits, whose shape follows the number of classes. Their
keys may be absent from the file or have other shapes there; every one of them
is logged with the reason. ``ignore`` names the file's key prefixes that are
deliberately not loaded (a classification file's classifier, say); what is
dropped is logged. Both are explicit in the config: nothing is left out
silently.

MMEngine 0.10.7 runs a module's non-``Pretrained`` init_cfg before the
``init_weights`` of its children (docs/upstream.md), which would overwrite what
was loaded. So children that still have to initialise do it first, here: the
re-initialised tensors get their modules' own init (e.g. the head's background
prior), and the loaded ones are the last word.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import Tensor, nn

from ssd_ext.models.pretrained.checksum import verify_sha256
from ssd_ext.models.pretrained.locate import locate_checkpoint
from ssd_ext.models.weight_conversion import unwrap_state_dict
from ssd_ext.utils.checkpoint_io import safe_load

MAX_LISTED = 12


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrained:
    """Loads every tensor of a module from a checked file, or raises.

    Args:
        checkpoint: A path, ``open-mmlab://NAME`` or URL (``locate.py``).
        prefix: Loads the file's ``prefix``-keyed part (e.g. ``'backbone.'``
            to take a detector's backbone); ``None`` takes the whole file.
        sha256: The file's digest (or its first 8+ hex digits); needed unless
            the name carries one or a ``.sha256`` file lies beside it.
        reinit: Key prefixes (in the module's naming) that are re-initialised
            rather than loaded, e.g. ``('bbox_head.cls_convs.',)``.
        ignore: Key prefixes of the file (after ``prefix``) that are not
            loaded, e.g. ``('classifier.',)``.
        map_location: As ``torch.load``'s.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                 sha256: Optional[str] = None, reinit: Sequence[str] = (),
                 ignore: Sequence[str] = (), map_location: str = 'cpu') -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.sha256 = sha256
        self.reinit = as_prefixes(reinit)
        self.ignore = as_prefixes(ignore)
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> None:
        path = locate_checkpoint(self.checkpoint)
        checked = verify_sha256(path, self.sha256)
        state = select_prefix(unwrap_state_dict(safe_load(path, self.map_location), str(path)),
                              self.prefix, path)
        state, ignored = drop_ignored(state, self.ignore, path)
        initialise_children_first(module)
        current = module.state_dict()
        reinit = plan_reinit(current, state, self.reinit)
        check_strict(current, state, set(reinit), path)
        check_finite(state, set(current) - set(reinit), path)
        module.load_state_dict({k: (current[k] if k in reinit else state[k]) for k in current},
                               strict=True)
        print_log(f'StrictPretrained: loaded {len(current) - len(reinit)} tensors of '
                  f'{type(module).__name__} from {path} ({checked})', logger='current')
        if ignored:
            print_log(f'StrictPretrained: not loaded, as ignore={self.ignore!r} asks: '
                      f'{len(ignored)} tensors of the file ({", ".join(ignored[:MAX_LISTED])}'
                      f'{" ..." if len(ignored) > MAX_LISTED else ""})', logger='current')
        for key, why in reinit.items():
            print_log(f'StrictPretrained: re-initialised {key}: {why}', logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'StrictPretrained: loaded from {path}')


def as_prefixes(value) -> Tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def drop_ignored(state: Dict[str, Tensor], prefixes: Tuple[str, ...],
                 path) -> Tuple[Dict[str, Tensor], List[str]]:
    """(the file's tensors to load, the keys ``prefixes`` drop)."""
    if not prefixes:
        return state, []
    dropped = sorted(k for k in state if k.startswith(prefixes))
    if not dropped:
        raise KeyError(f'{path}: ignore={prefixes!r} matches no key of the file '
                       f'(keys start like {sorted(state)[:3]})')
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}, dropped


def select_prefix(state: Dict[str, Tensor], prefix: Optional[str], path) -> Dict[str, Tensor]:
    if not prefix:
        return state
    part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not part:
        raise KeyError(f'{path}: no key starts with prefix {prefix!r} '
                       f'(keys start like {sorted(state)[:3]})')
    return part


def initialise_children_first(module: nn.Module) -> None:
    for child in module.children():
        if hasattr(child, 'init_weights') and not getattr(child, 'is_init', False):
            child.init_weights()


def plan_reinit(current: Dict[str, Tensor], state: Dict[str, Tensor],
                prefixes: Tuple[str, ...]) -> Dict[str, str]:
    """{key: why} for the module's keys under ``prefixes``."""
    if prefixes and not any(k.startswith(prefixes) for k in current):
        raise KeyError(f'reinit={prefixes!r} matches no key of the module '
                       f'(keys start like {sorted(current)[:3]})')
    why = {}
    for key, value in current.items():
        if not key.startswith(prefixes):
            continue
        if key not in state:
            why[key] = f'{tuple(value.shape)}, absent from the checkpoint (reinit={prefixes!r})'
        elif state[key].shape != value.shape:
            why[key] = (f'{tuple(value.shape)} here, {tuple(state[key].shape)} in the checkpoint '
                        f'(another class count; reinit={prefixes!r})')
        else:
            why[key] = f'{tuple(value.shape)}, re-initialised as asked (reinit={prefixes!r})'
    return why


def check_strict(current: Dict[str, Tensor], state: Dict[str, Tensor], reinit: set,
                 path) -> None:
    """Raises ``KeyError`` naming every missing, unexpected or mis-shaped key."""
    missing = [k for k in current if k not in state and k not in reinit]
    unexpected = [k for k in state if k not in current]
    shapes = [f'{k}: {tuple(state[k].shape)} in the file, {tuple(current[k].shape)} in the model'
              for k in current if k in state and k not in reinit
              and state[k].shape != current[k].shape]
    problems: List[str] = []
    for title, items in (('missing from the file', missing), ('unexpected', unexpected),
                         ('wrong shape', shapes)):
        if items:
            listed = ', '.join(items[:MAX_LISTED])
            more = f' and {len(items) - MAX_LISTED} more' if len(items) > MAX_LISTED else ''
            problems.append(f'{len(items)} {title}: {listed}{more}')
    if problems:
        raise KeyError(f'{path} does not fit the model exactly ({"; ".join(problems)}). '
                       f'A VGG16 file in another layout or convention is converted with '
                       f'tools/model_converters/vgg16_to_ssd_ext.py, an MMDetection SSD '
                       f'with tools/model_converters/mmdet_to_ssd_ext.py; tensors the file '
                       f'has and the model has not are left out with ignore=(PREFIX,), '
                       f'tensors to train afresh (another class count) with '
                       f'reinit=(PREFIX,).')


def check_finite(state: Dict[str, Tensor], keys, path) -> None:
    for key in sorted(keys):
        value = state[key]
        if value.is_floating_point() and not torch.isfinite(value).all():
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f'{path}: {key} has {bad} non-finite values (NaN or inf) '
                             f'of {value.numel()}')
