"""A toy training run whose every data and model random draw is recorded.

Trained by a real MMEngine Runner with ssd_ext's loop, sampler and checkpoint
hook, it shows whether a resumed run sees exactly what the original run saw.
"""
import random
import uuid
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset


class DrawingDataset(Dataset):
    """Each sample draws from python, NumPy and torch RNGs, as augmentation does.

    Every load is appended to ``log`` (works from DataLoader workers too).
    """

    def __init__(self, size: int, log: str) -> None:
        self.size, self.log = size, log

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> dict:
        with open(self.log, 'a') as f:
            f.write(f'{idx}\n')
        return dict(idx=idx, py=random.random(), np=float(np.random.rand()),
                    th=float(torch.rand(())))


class RecordingModel(BaseModel):
    """Records every batch it trains on, plus a draw of model-side randomness."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen: List[dict] = []

    def forward(self, idx, py, np, th, mode='loss'):
        noise = float(torch.rand(()))  # e.g. dropout: main-process torch RNG
        self.seen.append(dict(idx=list(idx), py=list(py), np=list(np), th=list(th),
                              noise=noise))
        target = torch.tensor(sum(py) + sum(np) + sum(th) + noise)
        return dict(loss=(self.w - target).pow(2).sum())


def toy_runner(work_dir: Path, num_workers: int, load_log: Path,
               resume_from: Optional[str] = None, load_from: Optional[str] = None,
               max_iters: int = 10, seed: Optional[int] = 11, interval: int = 3,
               max_keep_ckpts: int = 2, batch_size: int = 2,
               sampler: str = 'ResumableInfiniteSampler', **checkpoint_args) -> Runner:
    """Batches of 2 from 7 samples, by default a checkpoint every 3 iterations,
    2 kept. ``seed=None`` launches a run without a fixed seed."""
    return Runner(
        model=RecordingModel(), work_dir=str(work_dir),
        experiment_name=f'toy_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=DrawingDataset(7, str(load_log)), batch_size=batch_size,
            num_workers=num_workers, persistent_workers=num_workers > 0,
            sampler=dict(type=sampler, shuffle=True),
            collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(type='FastResumeIterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=100),
            checkpoint_types=dict(type='AllowCheckpointTypesHook'),
            checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=interval,
                            max_keep_ckpts=max_keep_ckpts, **checkpoint_args)),
        randomness=dict(seed=seed), default_scope='mmdet',
        resume=resume_from is not None, load_from=resume_from or load_from)


def loads(log: Path) -> List[int]:
    """The sample indices loaded, in order."""
    return [int(line) for line in log.read_text().split()] if log.exists() else []
