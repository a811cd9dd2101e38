"""Finds a weight file on this machine, never on the network.

A checkpoint is named as MMEngine's ``Pretrained`` initialiser names it:

- a path (``~`` expanded); a bare file name is also looked for in the cache;
- ``open-mmlab://NAME``: MMEngine's model list (``get_external_models``, with
  the user's ``$MMENGINE_HOME/open_mmlab.json`` overrides) gives its URL, and
  the file is looked for where MMEngine's loader would have saved it;
- ``http(s)://.../FILE``: looked for as ``FILE`` in the cache.

The cache is torch.hub's checkpoint folder, ``$TORCH_HOME/hub/checkpoints``
(``~/.cache/torch/hub/checkpoints`` by default), where MMEngine and torchvision
download to. Training machines are often offline, and a download attempted in
every rank of a job that then hangs or fails late is worse than one clear
error: when the file is absent, :class:`WeightsNotFoundError` says what to
fetch, from where, its checksum and where to put it.
"""
import os
import os.path as osp
from pathlib import Path
from typing import List, Optional, Tuple

import torch

from ssd_ext.models.pretrained.checksum import name_hash_prefix
from ssd_ext.models.pretrained.known_weights import KNOWN_WEIGHTS

OPENMMLAB_PREFIXES = ('open-mmlab://', 'openmmlab://')


class WeightsNotFoundError(FileNotFoundError):
    """A checkpoint that is not on this machine; the message says how to get it."""


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / 'checkpoints'


def resolve_url(name: str) -> Tuple[Optional[str], List[Path]]:
    """(URL the file is published at or ``None``, local paths to look at)."""
    if name.startswith(OPENMMLAB_PREFIXES):
        from mmengine.runner import get_external_models
        model = name.split('://', 1)[1]
        urls = get_external_models()
        if model not in urls:
            raise KeyError(f"{name}: MMEngine's open-mmlab model list has no {model!r} "
                           f'(it has e.g. {sorted(urls)[:5]})')
        url = urls[model]
        if not url.startswith(('http://', 'https://')):  # a file under MMEngine's home
            home = os.getenv('MMENGINE_HOME', osp.join(
                os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine'))
            return None, [Path(osp.expanduser(home)) / url]
        return url, [hub_checkpoint_dir() / url.rsplit('/', 1)[-1]]
    if name.startswith(('http://', 'https://')):
        return name, [hub_checkpoint_dir() / name.rsplit('/', 1)[-1]]
    if '://' in name:
        raise ValueError(f'{name}: unsupported scheme; give a path, an open-mmlab:// '
                         f'name or an http(s) URL')
    path = Path(osp.expanduser(name))
    if path.name == name:  # a bare file name: the cache is where a user puts it
        known = KNOWN_WEIGHTS.get(name)
        return (known.url if known else None), [path, hub_checkpoint_dir() / name]
    known = KNOWN_WEIGHTS.get(path.name)
    return (known.url if known else None), [path]


def locate_checkpoint(name: str) -> Path:
    """The local file ``name`` refers to; :class:`WeightsNotFoundError` if absent."""
    url, candidates = resolve_url(name)
    for path in candidates:
        if path.is_file():
            return path
    raise WeightsNotFoundError(not_found_message(name, url, candidates))


def not_found_message(name: str, url: Optional[str], looked_in: List[Path]) -> str:
    lines = [f'pretrained weights {name!r} not found; looked for:',
             *(f'  {p}' for p in looked_in),
             'Nothing is downloaded during training (machines that train are often '
             'offline).']
    folder = looked_in[-1].parent
    if url:
        filename = url.rsplit('/', 1)[-1]
        known = KNOWN_WEIGHTS.get(filename)
        # Publishers give the digest's first digits in the name, not the whole.
        prefix = name_hash_prefix(Path(filename))
        digest = f'begins with {prefix}' if prefix else 'not published'
        lines += [f'Fetch {url}',
                  f'  (sha256 {digest}; checked when it loads)'
                  + (f'\n  ({known.description})' if known else ''),
                  'and put it in that folder:',
                  f'  mkdir -p {folder} && wget -P {folder} {url}']
    lines += ['or give a local copy: --cfg-options model.backbone.init_cfg.checkpoint=PATH '
              '(for the backbone; the init_cfg holding this checkpoint otherwise).',
              'To train from random weights on purpose: --cfg-options '
              'model.backbone.init_cfg=None (from random VGG16 the paper\'s SGD lr '
              'diverges; configs/bccd/ssd300_bccd.py is a from-scratch recipe).']
    return '\n'.join(lines)
