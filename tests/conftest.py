import os
from pathlib import Path

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
