"""The sha256 a weight file must have, and its check.

The expected digest comes from, in order: the config (``sha256=``, the whole
digest or at least its first 8 hex digits), the hash prefix in the file name
(torch.hub's convention: ``NAME-<first hex digits>.EXT``, at least 8 digits),
or a ``FILE.sha256`` file beside it in ``sha256sum``'s format (ssd_ext's
converters write one). A file with none of them is refused too: loading
unchecked weights is what loses GPU-days to a truncated download.
"""
import hashlib
import re
from pathlib import Path
from typing import Dict, Optional, Tuple

from torch import Tensor

from ssd_ext.utils.checkpoint_io import atomic_torch_save, atomic_write

MIN_PREFIX = 8
# torch.hub's HASH_REGEX, but with the length torch leaves unchecked (an empty
# prefix there matches any file).
NAME_HASH = re.compile(r'-([a-f0-9]{%d,64})\.' % MIN_PREFIX)
SIDECAR_SUFFIX = '.sha256'


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def name_hash_prefix(path: Path) -> Optional[str]:
    """``'292e1171'`` for ``vgg16_caffe-292e1171.pth``; ``None`` without one."""
    match = NAME_HASH.search(Path(path).name)
    return match.group(1) if match else None


def sidecar_path(path: Path) -> Path:
    return Path(f'{path}{SIDECAR_SUFFIX}')


def write_sidecar(path: Path) -> str:
    """Writes ``PATH.sha256`` (``sha256sum -c`` reads it) and returns the digest."""
    digest = sha256_of(path)
    atomic_write(sidecar_path(path), f'{digest}  {Path(path).name}\n')
    return digest


def expected_sha256(path: Path, sha256: Optional[str] = None) -> Tuple[str, str]:
    """(expected digest or prefix, where it comes from) for ``path``.

    Raises ``ValueError`` naming the file, with its actual digest to paste, when
    nothing says what it should be, and for a malformed ``sha256``.
    """
    path = Path(path)
    if sha256 is not None:
        if not re.fullmatch(r'[0-9a-fA-F]{%d,64}' % MIN_PREFIX, str(sha256)):
            raise ValueError(f"sha256={sha256!r} for {path}: expected 8 to 64 hex digits")
        return sha256.lower(), "the config's sha256"
    prefix = name_hash_prefix(path)
    if prefix:
        return prefix, 'the hash prefix in its file name'
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        fields = sidecar.read_text().split()
        if not fields or not re.fullmatch(r'[0-9a-f]{64}', fields[0]):
            raise ValueError(f'{sidecar}: expected a sha256sum line (64 hex digits, '
                             f'then the file name)')
        return fields[0], str(sidecar)
    raise ValueError(
        f'{path} has no checksum to check: its name carries no hash prefix '
        f"(NAME-<sha256 prefix>.pth), there is no {sidecar.name} beside it and the "
        f"config gives no sha256. If this is the file you mean, set sha256='"
        f"{sha256_of(path)}' in its init_cfg (the digest of the file as it is now).")


def verify_sha256(path: Path, sha256: Optional[str] = None) -> str:
    """Checks ``path`` against :func:`expected_sha256`; returns a line saying so."""
    expected, source = expected_sha256(path, sha256)
    actual = sha256_of(path)
    if not actual.startswith(expected):
        raise ValueError(
            f'{path}: sha256 {actual} does not match {expected} ({source}). '
            f'The file is damaged (e.g. a truncated download) or not the one '
            f'named; fetch it again.')
    return f'sha256 {actual[:16]}... matches {source}'


def check_source(path: Path) -> str:
    """A converter's input: checked against the hash prefix in its name where it
    has one (published files do); a line saying what was checked."""
    if name_hash_prefix(path) is None:
        return f'{path}: not checked (no hash prefix in its name), sha256 {sha256_of(path)}'
    return f'{path}: {verify_sha256(path)}'


def save_checked(state_dict: Dict[str, Tensor], meta: Dict[str, object], path: Path) -> str:
    """Saves ``{'state_dict', 'meta'}`` atomically with its ``.sha256`` beside it, so
    ``StrictPretrained`` can check it; returns the digest. ``meta`` holds plain
    values only, so the file loads weights-only."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({'state_dict': state_dict, 'meta': meta}, path)
    return write_sidecar(path)
