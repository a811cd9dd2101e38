"""The pretrained weights a config names, checked before the Runner is built.

Rule: every ``init_cfg`` of type ``StrictPretrained`` in ``cfg.model`` (at any
depth, alone or in a list) must name a file that is on this machine
(``models/pretrained/locate.py``) and has its checksum (``checksum.py``).
MMEngine 0.10.7 loads them only in ``Runner.train()``, after the training and
validation datasets are built (docs/upstream.md), so a missing
or damaged file would fail late; ``build_runner`` checks them first.

In a distributed run every process checks (each node has its own disk) and the
processes agree (``all_gather_object``): if any failed, each node's local rank 0
that failed prints its message once, and every process exits with status 1
after a barrier (so the launcher stops no process before that message is out),
the others without a message.
"""
import os
import sys
from typing import List, Tuple

from mmengine.dist import all_gather_object, barrier, is_distributed

from ssd_ext.models.pretrained.checksum import verify_sha256
from ssd_ext.models.pretrained.locate import locate_checkpoint

INITIALISER = 'StrictPretrained'


def strict_pretrained_cfgs(node, where: str = 'model') -> List[Tuple[str, dict]]:
    """(where, init_cfg) of every ``StrictPretrained`` init_cfg under ``node``,
    e.g. ``('model.backbone.init_cfg', {...})``, in the config's order."""
    found = []
    if isinstance(node, dict):
        if node.get('type') == INITIALISER and 'checkpoint' in node:
            found.append((where, node))
        for key, value in node.items():
            found += strict_pretrained_cfgs(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += strict_pretrained_cfgs(value, f'{where}[{i}]')
    return found


def check_init_cfg(where: str, init_cfg: dict) -> str:
    """Locates and checksums one ``StrictPretrained`` file; a line saying so.
    Raises ``WeightsNotFoundError`` or ``ValueError`` naming the file and ``where``."""
    try:
        path = locate_checkpoint(init_cfg['checkpoint'])
        return f'{where}: {path}: {verify_sha256(path, init_cfg.get("sha256"))}'
    except (OSError, ValueError, KeyError) as error:
        raise type(error)(f'{where}: {error}') from error


def pretrained_problems(model_cfg) -> List[str]:
    """The message of each ``StrictPretrained`` file that fails its check."""
    problems = []
    for where, init_cfg in strict_pretrained_cfgs(model_cfg):
        try:
            check_init_cfg(where, init_cfg)
        except (OSError, ValueError, KeyError) as error:
            problems.append(str(error.args[0] if error.args else error))
    return problems


def check_pretrained_weights(cfg) -> None:
    """Raises the first failed check (one process), or stops every process of a
    distributed run as the module docstring says."""
    model = cfg.get('model')
    if not is_distributed():
        for where, init_cfg in strict_pretrained_cfgs(model):
            check_init_cfg(where, init_cfg)
        return
    problems = pretrained_problems(model)
    if not any(all_gather_object(problems)):
        return
    if problems and int(os.environ.get('LOCAL_RANK', '0')) == 0:
        sys.stderr.write('Pretrained weights refused before training (each node reports '
                         'its own):\n' + '\n\n'.join(problems) + '\n')
        sys.stderr.flush()
    barrier()
    raise SystemExit(1)
