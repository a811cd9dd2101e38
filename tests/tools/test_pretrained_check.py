"""Pretrained weights are checked before any dataset is built
(``ssd_ext/models/pretrained/config_check.py``), and a distributed run reports
a missing file once per node.

The runs use ``configs/bccd/ssd300_bccd_finetune.py`` from an empty folder: its
``checkpoints/ssd300_coco_mmdet.pth`` and its dataset (``data/bccd/``) are both
absent, so whichever is looked at first names the error: the weights must be.
"""
import subprocess
import sys

import pytest
import torch
from conftest import tool_env
from mmengine.config import Config

from ssd_ext.models.pretrained.config_check import (check_pretrained_weights,
                                                    pretrained_problems,
                                                    strict_pretrained_cfgs)
from ssd_ext.models.pretrained.checksum import write_sidecar
from ssd_ext.models.pretrained.locate import WeightsNotFoundError

CONFIG = 'configs/bccd/ssd300_bccd_finetune.py'
NOT_FOUND = "pretrained weights 'checkpoints/ssd300_coco_mmdet.pth' not found"


def model_cfg(backbone_ckpt, detector_ckpt):
    return dict(type='SSD', init_cfg=[dict(type='StrictPretrained', checkpoint=detector_ckpt)],
                backbone=dict(type='VGG16ReducedFC',
                              init_cfg=dict(type='StrictPretrained', checkpoint=backbone_ckpt,
                                            prefix='backbone.')),
                neck=dict(init_cfg=dict(type='Kaiming', layer='Conv2d')))


def test_finds_every_strict_pretrained_init_cfg():
    found = strict_pretrained_cfgs(model_cfg('a.pth', 'b.pth'))
    assert [(where, cfg['checkpoint']) for where, cfg in found] == [
        ('model.init_cfg[0]', 'b.pth'), ('model.backbone.init_cfg', 'a.pth')]


def test_names_the_missing_and_the_damaged_file(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.zeros(1)}, good)
    write_sidecar(good)
    damaged = tmp_path / 'ssd300-0123abcd.pth'  # its name's hash prefix does not match
    torch.save({'w': torch.ones(1)}, damaged)
    assert pretrained_problems(model_cfg(str(good), str(good))) == []
    problems = pretrained_problems(model_cfg(str(damaged), str(tmp_path / 'absent.pth')))
    assert len(problems) == 2
    assert problems[0].startswith('model.init_cfg[0]: pretrained weights')
    assert 'absent.pth' in problems[0]
    assert problems[1].startswith(f'model.backbone.init_cfg: {damaged}: sha256 ')
    assert 'does not match 0123abcd' in problems[1]
    with pytest.raises(WeightsNotFoundError, match=r'model\.init_cfg\[0\]: .*absent\.pth'):
        check_pretrained_weights(Config(dict(model=model_cfg(str(good),
                                                             str(tmp_path / 'absent.pth')))))


def test_train_reports_missing_weights_before_building_a_dataset(tmp_path, repo_root):
    proc = subprocess.run([sys.executable, str(repo_root / 'tools/train.py'),
                           str(repo_root / CONFIG), '--work-dir', str(tmp_path / 'work')],
                          cwd=tmp_path, env=tool_env(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert f'WeightsNotFoundError: model.init_cfg: {NOT_FOUND}' in proc.stderr, proc.stderr[-3000:]
    assert 'data/bccd' not in proc.stderr  # no dataset was looked at


def test_distributed_run_reports_missing_weights_once(tmp_path, repo_root):
    proc = subprocess.run([str(repo_root / 'tools/dist_train.sh'), str(repo_root / CONFIG), '2',
                           '--work-dir', str(tmp_path / 'work')], cwd=tmp_path,
                          env=tool_env(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode != 0
    assert proc.stdout.count(NOT_FOUND) == 1, proc.stdout[-6000:]
    assert 'model.init_cfg: ' + NOT_FOUND in proc.stdout
    assert 'data/bccd' not in proc.stdout
