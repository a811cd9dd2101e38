import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List

import pytest
from mmengine.registry import init_default_scope

import ssd_ext  # noqa: F401  (registers modules)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get('SSD_EXT_SHARED_DATA', REPO_ROOT.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data() -> Path:
    """``../shared/data`` (real BCCD and COCO images); tests skip without it."""
    if not (SHARED_DATA / 'bccd').is_dir():
        pytest.skip(f'real-image data not found at {SHARED_DATA} '
                    '(set SSD_EXT_SHARED_DATA to its location)')
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


@pytest.fixture
def logs(monkeypatch):
    """Messages the checked datasets log through MMEngine's print_log."""
    records = []
    import ssd_ext.data.checked_dataset as module
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, logger=None, level=20: records.append((level, msg)))
    return records


def coco_subset(src: Path, dst: Path, num_images: int) -> Path:
    """Writes the first ``num_images`` images of COCO json ``src`` (with their
    boxes) to ``dst``."""
    coco = json.loads(src.read_text())
    images = coco['images'][:num_images]
    ids = {img['id'] for img in images}
    coco.update(images=images,
                annotations=[a for a in coco['annotations'] if a['image_id'] in ids])
    dst.write_text(json.dumps(coco))
    return dst


@pytest.fixture(scope='session')
def bccd_coco(shared_data, tmp_path_factory) -> Path:
    """BCCD converted to COCO json by our converter: ``ROOT/annotations/{train,
    val,test}.json`` and ``ROOT/JPEGImages`` (a link to the real images)."""
    from ssd_ext.data.voc_to_coco import convert_split
    voc = shared_data / 'bccd'
    root = tmp_path_factory.mktemp('bccd_coco')
    (root / 'annotations').mkdir()
    for split in ('train', 'val', 'test'):
        coco, _ = convert_split(str(voc), split, ['RBC', 'WBC', 'Platelets'])
        (root / 'annotations' / f'{split}.json').write_text(json.dumps(coco))
    (root / 'JPEGImages').symlink_to(voc / 'JPEGImages', target_is_directory=True)
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def tool_env(path: Path) -> Dict[str, str]:
    """Environment of a tools/ subprocess: one thread per process, a free
    torchrun port, this interpreter, ``path`` on PYTHONPATH (for modules a
    config imports)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()),
               PYTHON=sys.executable)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(path), env.get('PYTHONPATH')) if p)
    return env


def run_tool(cmd: List[str], env: Dict[str, str], cwd: Path, timeout: float = 600) -> str:
    """Runs ``cmd``; its output (stdout and stderr), which must end in exit code 0."""
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert proc.returncode == 0, f'{cmd} failed ({proc.returncode}):\n{proc.stdout[-6000:]}'
    return proc.stdout


def assert_same_weights_and_optimizer(ours: Path, reference: Path) -> None:
    """Checkpoint ``ours`` holds ``reference``'s weights and optimizer state bit for bit."""
    import torch

    from ssd_ext.utils.checkpoint_io import safe_load
    ours_ckpt, ref = safe_load(ours), safe_load(reference)
    assert ours_ckpt['state_dict'].keys() == ref['state_dict'].keys()
    for key, value in ref['state_dict'].items():
        assert torch.equal(ours_ckpt['state_dict'][key], value), key
    for pid, state in ref['optimizer']['state'].items():
        for key, value in state.items():
            assert torch.equal(ours_ckpt['optimizer']['state'][pid][key], value), (pid, key)


def load_script(path: Path) -> ModuleType:
    """A script (``tools/`` is not a package; the tests' own helpers are
    imported from ``ssd_testkit``) loaded as a module, with its folder on
    ``sys.path`` while it is executed, as when it runs as ``python PATH``
    (scripts import the modules beside them)."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f'script_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
