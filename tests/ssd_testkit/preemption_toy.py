"""Test-only: a toy regression trained by ``tools/train.py`` and
``tools/dist_train.sh`` for the preemption and elastic-restart tests.

Imported by ``tests/configs/toy_preemption.py`` (``custom_imports``) with
``tests/`` on PYTHONPATH. ``SignalAtIterationHook`` sends this process a signal
once, at the start of a chosen iteration on a chosen rank, and records that it
did in a file, so that a restarted or resumed run does not send it again:
``FAULT_SIGNAL`` (e.g. SIGTERM, SIGKILL), ``FAULT_ITER``, ``FAULT_RANK`` (0),
``FAULT_MARKER`` (the file); with ``FAULT_TO_GROUP`` set, to the whole
process group (DataLoader workers included), from a ``kill`` process.
"""
import os
import random
import signal
import subprocess

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from mmdet.registry import DATASETS, HOOKS, MODELS


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    """Sample ``idx``: fixed inputs and a target; with ``draws`` the target also
    holds a Python, a NumPy and a torch random draw, as augmentation would."""

    def __init__(self, size: int = 12, draws: bool = True) -> None:
        self.size, self.draws = size, draws
        self.metainfo = dict(classes=())

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> dict:
        inputs = torch.linspace(-1, 1, 4) * (idx + 1) / self.size
        target = torch.tensor([float(idx % 3)])
        if self.draws:
            target = target + random.random() + float(np.random.rand()) + torch.rand(1)
        return dict(inputs=inputs, target=target)


@MODELS.register_module()
class ToyRegressor(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, inputs, target=None, mode='loss'):
        pred = self.fc(torch.stack(inputs))
        if mode != 'loss':
            return pred
        return dict(loss=(pred - torch.stack(target)).pow(2).mean())


@HOOKS.register_module()
class SignalAtIterationHook(Hook):
    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        name, marker = os.environ.get('FAULT_SIGNAL'), os.environ.get('FAULT_MARKER')
        if (not name or runner.iter != int(os.environ['FAULT_ITER'])
                or runner.rank != int(os.environ.get('FAULT_RANK', '0'))
                or os.path.exists(marker)):
            return
        with open(marker, 'w') as f:
            f.write(f'{name} rank {runner.rank} iteration {runner.iter}\n')
        if os.environ.get('FAULT_TO_GROUP'):
            # As Slurm: every process, sent by another process (a DataLoader
            # worker treats a SIGTERM from its parent as a shutdown request).
            subprocess.run(['kill', f'-{name[3:]}', '--', f'-{os.getpgrp()}'], check=True,
                           start_new_session=True)
        else:
            os.kill(os.getpid(), getattr(signal, name))
