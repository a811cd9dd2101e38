"""``ssd_ext/deployment/calibration.py``: which images calibrate INT8."""
import pytest

from ssd_ext.deployment.calibration import (calibration_files, calibration_inputs,
                                            evenly_spaced)
from ssd_testkit.onnx_fixtures import random_detector, shapes_dir  # noqa: F401 (fixture)


def test_evenly_spaced_covers_the_list():
    files = [f'{i}.jpg' for i in range(10)]
    assert evenly_spaced(files, 3) == ['0.jpg', '4.jpg', '9.jpg']
    assert evenly_spaced(files, 20) == files
    with pytest.raises(ValueError, match='must be positive, got 0'):
        evenly_spaced(files, 0)


def test_folder_and_config_split(repo_root, shapes_dir, tmp_path, monkeypatch):  # noqa: F811
    model = random_detector(repo_root)
    folder = calibration_files(model.cfg, str(shapes_dir / 'val'), 2)
    assert len(folder) == 2 and all(f.endswith('.png') for f in folder)
    # The quickstart config's val split, relative to its data_root.
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'shapes').symlink_to(shapes_dir, target_is_directory=True)
    split = calibration_files(model.cfg, 'val', 100)
    assert [f.split('/')[-1] for f in split] == sorted(p.name for p in (shapes_dir / 'val')
                                                       .glob('*.png'))
    inputs = calibration_inputs(model, split, batch_size=2)
    assert [x.shape for x in inputs] == [(1, 3, 160, 160)] * len(split)


def test_unknown_split_and_missing_folder(repo_root, tmp_path):
    cfg = random_detector(repo_root).cfg
    with pytest.raises(FileNotFoundError, match='no such image or folder'):
        calibration_files(cfg, str(tmp_path / 'nope'), 4)
    with pytest.raises(FileNotFoundError, match='no images'):
        calibration_files(cfg, str(tmp_path), 4)
