"""``ssd_ext/apis/inference.py``: ``build_detector`` loads checkpoints
weights-only and strictly, also those saved from a DDP-wrapped model."""
import pytest
import torch
from mmengine.config import Config

from ssd_ext.apis import build_detector

CONFIG = 'configs/quickstart/ssd160_shapes.py'


@pytest.fixture(scope='module')
def state_dict(repo_root):
    model = build_detector(str(repo_root / CONFIG))
    torch.manual_seed(0)
    model.init_weights()
    return model.state_dict()


def assert_same_weights(model, state_dict):
    loaded = model.state_dict()
    assert loaded.keys() == state_dict.keys()
    for key, value in state_dict.items():
        assert torch.equal(loaded[key], value), key


def test_loads_plain_and_ddp_checkpoints(repo_root, state_dict, tmp_path):
    plain, ddp = tmp_path / 'plain.pth', tmp_path / 'ddp.pth'
    torch.save({'state_dict': state_dict}, plain)
    torch.save({f'module.{k}': v for k, v in state_dict.items()}, ddp)  # no nesting
    for path in (plain, ddp):
        model = build_detector(Config.fromfile(str(repo_root / CONFIG)), str(path))
        assert not model.training and isinstance(model.cfg, Config)
        assert_same_weights(model, state_dict)


def test_refuses_incomplete_and_missing_checkpoints(repo_root, state_dict, tmp_path):
    partial = tmp_path / 'partial.pth'
    torch.save({'state_dict': {k: v for k, v in state_dict.items()
                               if not k.startswith('bbox_head.')}}, partial)
    with pytest.raises(RuntimeError, match='missing keys in source state_dict'):
        build_detector(str(repo_root / CONFIG), str(partial))
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        build_detector(str(repo_root / CONFIG), str(tmp_path / 'nope.pth'))
    no_weights = tmp_path / 'meta_only.pth'
    torch.save({'meta': {'epoch': 3}}, no_weights)
    with pytest.raises(ValueError, match=f'{no_weights} holds no state dict'):
        build_detector(str(repo_root / CONFIG), str(no_weights))
