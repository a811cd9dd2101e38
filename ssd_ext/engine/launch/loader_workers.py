"""``num_workers='auto'``: data-loader workers sized to the machine.

SSD's augmentation (decode, min-IoU crop, warp, photometric distortion) runs on
the CPU, one image per worker at a time, and costs a core a few milliseconds per
image (``tools/analysis/loader_benchmark.py`` measures it). A GPU trains SSD300
at hundreds of images per second, so the two workers per GPU of MMDetection's
SSD configs leave it waiting for data. ``'auto'`` gives each training process
the CPUs it may use less one for the process itself (which runs the model or,
on a GPU, feeds it).

MMEngine builds data loaders from plain integers, so ``'auto'`` is resolved
when ``tools/train.py`` or ``tools/test.py`` builds the Runner
(``launch.build_runner``); code that builds a Runner itself calls
:func:`resolve_auto_workers` first.
"""
import logging
import os
import re
from typing import Dict, Mapping, Optional

from mmengine.logging import print_log

from ssd_ext.utils.machine import available_cpus

AUTO = 'auto'
LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Beyond this the loader outruns any one GPU (docs/benchmarks.md) while every
# worker holds its own copy of the annotations.
MAX_WORKERS = 16


def processes_per_node(environ: Optional[Mapping[str, str]] = None) -> int:
    """Training processes on this node, from the launcher's environment:
    torchrun's ``LOCAL_WORLD_SIZE``, Open MPI's ``OMPI_COMM_WORLD_LOCAL_SIZE``
    or Slurm's task counts; 1 without a launcher."""
    environ = os.environ if environ is None else environ
    for key in ('LOCAL_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE', 'SLURM_NTASKS_PER_NODE'):
        if environ.get(key):
            return int(environ[key])
    # Set by every Slurm step, e.g. '4' or, for uneven nodes, '4(x2),3': this
    # node's count is not told apart there, so the largest is taken (fewer
    # workers, not more).
    tasks = environ.get('SLURM_TASKS_PER_NODE')
    if tasks:
        return max(int(n) for n in re.findall(r'(\d+)(?:\(x\d+\))?', tasks))
    return 1


def cpus_per_process(cpus: int, environ: Optional[Mapping[str, str]] = None) -> int:
    """This process's share of the ``cpus`` it may run on. Slurm binds each task
    to its ``--cpus-per-task``, so the affinity mask is already the share;
    torchrun and mpirun leave every process the whole node, shared among the
    :func:`processes_per_node`."""
    environ = os.environ if environ is None else environ
    if environ.get('SLURM_CPUS_PER_TASK'):
        return max(1, min(cpus, int(environ['SLURM_CPUS_PER_TASK'])))
    return max(1, cpus // processes_per_node(environ))


def auto_num_workers(cpus: int, max_workers: int = MAX_WORKERS) -> int:
    """Workers for a process with ``cpus`` of its own: all but one, at least 1,
    at most ``max_workers``."""
    if cpus < 1:
        raise ValueError(f'cpus must be >= 1, got {cpus}')
    return max(1, min(max_workers, cpus - 1))


def resolve_auto_workers(cfg, workers: Optional[int] = None) -> Dict[str, int]:
    """Replaces ``num_workers='auto'`` in ``cfg``'s data loaders by ``workers``
    (default: :func:`auto_num_workers` of this process's CPUs); returns
    ``{loader key: workers}`` for those it resolved (logged). Other strings
    are refused by name."""
    resolved = {}
    for key in LOADER_KEYS:
        loader = cfg.get(key)
        if not isinstance(loader, dict):  # None, or a DataLoader built already
            continue
        value = loader.get('num_workers', 0)
        if value == AUTO:
            if workers is None:
                workers = auto_num_workers(cpus_per_process(available_cpus()))
            loader['num_workers'] = resolved[key] = workers
        elif not isinstance(value, int) or value < 0:
            raise ValueError(f'{key}.num_workers={value!r}: expected an integer >= 0 '
                             f"or '{AUTO}'")
    if resolved:
        print_log(f"num_workers='{AUTO}': {resolved} ({available_cpus()} CPUs available, "
                  f'{processes_per_node()} process(es) on this node)', logger='current',
                  level=logging.INFO)
    return resolved
