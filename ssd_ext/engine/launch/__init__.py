"""The Runner of ``tools/train.py`` and ``tools/test.py``, fitted to the machine.

``build_runner`` (``runner``) builds MMEngine's Runner from a config after
adapting it: a CPU-only distributed run joins a gloo group without MMEngine's
``torch.cuda.set_device`` (``cpu_dist``), ``num_workers='auto'`` becomes this
process's share of the CPUs (``loader_workers``; :func:`resolve_auto_workers`
for code that builds a Runner itself) and ``--amp`` selects the precision and
optim wrapper of ``ssd_ext.engine.precision``.
"""
from ssd_ext.engine.launch.loader_workers import resolve_auto_workers
from ssd_ext.engine.launch.runner import (add_runner_args, build_runner, destroy_dist, enable_amp,
                                          load_config)

__all__ = [
    'add_runner_args', 'build_runner', 'destroy_dist', 'enable_amp', 'load_config',
    'resolve_auto_workers'
]
