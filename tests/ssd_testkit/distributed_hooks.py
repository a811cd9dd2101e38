"""Hooks of the two-process runs of tests/integration/test_distributed.py, imported
by ``tests/configs/ssd300_bccd_tiny.py`` (``custom_imports``; ``tests/`` is on the
runs' PYTHONPATH)."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ssd_ext.utils.model import unwrap_model


@HOOKS.register_module()
class DumpRankParamsHook(Hook):
    """Saves this rank's parameters before and after training."""

    def _dump(self, runner, tag):
        params = {k: v.detach().clone()
                  for k, v in unwrap_model(runner.model).named_parameters()}
        torch.save(dict(wrapper=type(runner.model).__name__,
                        world_size=runner.world_size, params=params),
                   osp.join(runner.work_dir, f'params_{tag}_rank{runner.rank}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'start')

    def after_train(self, runner):
        self._dump(runner, 'end')
