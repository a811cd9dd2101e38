"""Fixtures of the data-check tests: real images with injected problems."""
from pathlib import Path

import pytest
from faulty_coco import BadCopy, make_bad_copy
from faulty_voc import make_voc


@pytest.fixture
def bad_copy(shared_data, tmp_path) -> BadCopy:
    """tiny_coco's first six images with the problems of ``faulty_coco``."""
    return make_bad_copy(shared_data / 'tiny_coco', tmp_path)


@pytest.fixture
def voc(shared_data, tmp_path) -> Path:
    """A VOC2007 tree of BCCD images with the problems of ``faulty_voc``."""
    return make_voc(shared_data / 'bccd', tmp_path)
