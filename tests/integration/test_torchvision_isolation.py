"""The torchvision reference stays inside its block: after it (and after
test_torchvision_exactness.py's fixture, which runs before this module in a
pytest process), ``import torchvision`` raises ModuleNotFoundError again and
MMEngine's ``collect_env``, which every Runner calls, works."""
import importlib
import sys

import pytest

import ssd_testkit.torchvision_reference as reference


def assert_torchvision_absent():
    assert str(reference.REFERENCE_DIR) not in sys.path
    assert not [m for m in sys.modules if m.split('.')[0] == 'torchvision']
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('torchvision')


def test_torchvision_is_visible_only_inside_the_block():
    assert_torchvision_absent()  # also after test_torchvision_exactness.py ran
    if reference.missing_reason():
        pytest.skip(reference.missing_reason())
    for _ in range(2):  # a second entry reuses the first import's modules
        with reference.torchvision_visible() as torchvision:
            assert importlib.import_module('torchvision') is torchvision
            assert torchvision.__file__.startswith(str(reference.REFERENCE_DIR))
            assert torchvision.ops.nms  # the ops registered
        assert_torchvision_absent()
    from mmengine.utils.dl_utils import collect_env
    assert 'TorchVision' not in collect_env()
