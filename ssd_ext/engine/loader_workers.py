"""``num_workers='auto'``: data-loader workers sized to the machine.

SSD's augmentation (decode, min-IoU crop, warp, photometric distortion) runs on
the CPU, one image per worker at a time, and costs a core a few milliseconds per
image (``tools/analysis/loader_benchmark.py`` measures it). A GPU trains SSD300
at hundreds of images per second, so the two workers per GPU of MMDetection's
SSD configs leave it waiting for data. ``'auto'`` gives each process of the node
the CPUs it may use, shared among the node's processes, less one for the
process itself (which runs the model or, on a GPU, feeds it).

MMEngine builds data loaders from plain integers, so ``'auto'`` is resolved
when the Runner is built (``launch.build_runner``).
"""
import logging
import os
import re
from typing import Dict, Mapping, Optional

from mmengine.logging import print_log

AUTO = 'auto'
LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Beyond this the loader outruns any one GPU here (about 150-450 images per
# second per worker) while every worker holds its own copy of the annotations.
MAX_WORKERS = 16


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, so ``taskset`` and
    cgroup cpusets are honoured), ``os.cpu_count()`` where there is none."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def processes_per_node(environ: Optional[Mapping[str, str]] = None) -> int:
    """Training processes on this node, from the launcher's environment:
    torchrun's ``LOCAL_WORLD_SIZE``, Slurm's ``SLURM_NTASKS_PER_NODE`` or
    Open MPI's ``OMPI_COMM_WORLD_LOCAL_SIZE``; 1 without a launcher."""
    environ = os.environ if environ is None else environ
    for key in ('LOCAL_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE'):
        if environ.get(key):
            return int(environ[key])
    # Slurm writes e.g. '4' or, for uneven nodes, '4(x2),3': this node's count
    # is not told apart there, so the largest is taken (fewer workers, not more).
    tasks = environ.get('SLURM_NTASKS_PER_NODE')
    if tasks:
        return max(int(n) for n in re.findall(r'(\d+)(?:\(x\d+\))?', tasks))
    return 1


def auto_num_workers(cpus: int, processes: int, max_workers: int = MAX_WORKERS) -> int:
    """Workers per process: its share of ``cpus`` less one, at least 1, at most
    ``max_workers``."""
    if cpus < 1 or processes < 1:
        raise ValueError(f'cpus and processes must be >= 1, got {cpus} and {processes}')
    return max(1, min(max_workers, cpus // processes - 1))


def resolve_auto_workers(cfg, cpus: Optional[int] = None,
                         processes: Optional[int] = None) -> Dict[str, int]:
    """Replaces ``num_workers='auto'`` in ``cfg``'s data loaders by
    :func:`auto_num_workers` of this machine; returns ``{loader key: workers}``
    for those it resolved (logged). Other strings are refused by name."""
    resolved = {}
    for key in LOADER_KEYS:
        loader = cfg.get(key)
        if not loader:
            continue
        workers = loader.get('num_workers', 0)
        if workers == AUTO:
            cpus = available_cpus() if cpus is None else cpus
            processes = processes_per_node() if processes is None else processes
            loader['num_workers'] = resolved[key] = auto_num_workers(cpus, processes)
        elif not isinstance(workers, int) or workers < 0:
            raise ValueError(f'{key}.num_workers={workers!r}: expected an integer >= 0 '
                             f"or '{AUTO}'")
    if resolved:
        print_log(f"num_workers='{AUTO}': {resolved} ({cpus} CPUs for {processes} "
                  f'process(es) on this node)', logger='current', level=logging.INFO)
    return resolved
