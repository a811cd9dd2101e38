"""Test-only: where tests/integration/test_kill_and_resume.py SIGKILLs a training run.

Imported by ``tests/configs/ssd160_kill_resume.py`` (``custom_imports``). The
phase and step come from ``KILL_PHASE`` / ``KILL_STEP``; on reaching it the run
writes the phase to ``KILL_MARKER`` and waits for the test's SIGKILL.
"""
import os
import re
import time

from mmengine.fileio import register_backend
from mmengine.hooks import Hook

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS, HOOKS
from ssd_ext.engine.checkpoint.atomic_backend import AtomicLocalBackend
from ssd_ext.utils.checkpoint_io import atomic_write, partial_path
from ssd_ext.engine.checkpoint.atomic_checkpoint_hook import read_last_checkpoint


def _armed(phase: str, step: int) -> bool:
    return (os.environ.get('KILL_PHASE') == phase
            and int(os.environ.get('KILL_STEP', '-1')) == step)


def _stop_here(phase: str) -> None:
    """Tell the test where this run is, then wait for its SIGKILL."""
    # Atomically: the test kills as soon as the marker exists, then reads it.
    atomic_write(os.environ['KILL_MARKER'], phase)
    time.sleep(600)
    os._exit(3)  # never killed: the test fails


def _step(path: str) -> int:
    return int(re.search(r'iter_(\d+)\.pth$', str(path)).group(1))


def _pointer_step(work_dir: str) -> int:
    return _step(read_last_checkpoint(work_dir))


@HOOKS.register_module()
class KillInIterationHook(Hook):
    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if _armed('iteration', runner.iter):
            _stop_here('iteration')


class KillPointsBackend(AtomicLocalBackend):
    """The atomic backend, killed while writing a checkpoint ('writing'), once it
    is written but before the pointer names it ('pointer'), or while deleting an
    old one ('removing', armed with the step the pointer names)."""

    def put(self, obj, filepath):
        if _armed('writing', _step(filepath)):
            # What a kill in the middle of writing leaves: half a partial file.
            with open(partial_path(filepath), 'wb') as f:
                f.write(obj[:len(obj) // 2])
            _stop_here('writing')
        super().put(obj, filepath)
        if _armed('pointer', _step(filepath)):
            _stop_here('pointer')

    def remove(self, filepath):
        if _armed('removing', _pointer_step(os.path.dirname(filepath))):
            _stop_here('removing')
        super().remove(filepath)


register_backend('kill_points_local', KillPointsBackend)


@DATASETS.register_module()
class LoadCountingCocoDataset(CocoDataset):
    def prepare_data(self, idx):
        with open(os.environ['LOAD_LOG'], 'a') as f:
            f.write(f'{idx}\n')
        return super().prepare_data(idx)
