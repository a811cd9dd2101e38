"""Joins the process group of a CPU-only distributed run with torch's own API.

MMEngine 0.10.7's ``init_dist`` (docs/upstream.md) pins every process to a GPU with
``torch.cuda.set_device`` before ``init_process_group``, for each of its
launchers; a CPU build of torch raises there. Here the group is joined through
``init_method='env://'``: the pytorch launcher (torchrun, ``tools/dist_*.sh``)
sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT itself, and for slurm
(``tools/slurm_*.sh``) and mpi they are derived from the variables srun and
Open MPI set, with the same defaults as that ``init_dist``. The Runner then
finds the group initialised and skips its own ``init_dist``.
"""
import datetime
import os
import subprocess
from typing import Optional

import torch.distributed as dist

# torch.distributed's default port, MMEngine's fallback too.
DEFAULT_MASTER_PORT = '29500'
LAUNCHERS = ('pytorch', 'slurm', 'mpi')


def first_slurm_host(node_list: str) -> str:
    """The first host name of a Slurm node list (``node[01-04]`` -> ``node01``)."""
    hosts = subprocess.run(['scontrol', 'show', 'hostnames', node_list], check=True,
                           capture_output=True, text=True).stdout.split()
    return hosts[0]


def set_env_from_slurm(port: Optional[int] = None) -> None:
    """RANK, WORLD_SIZE, LOCAL_RANK and the master's address from srun's variables;
    MASTER_PORT from ``port``, else the environment, else the default."""
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = first_slurm_host(os.environ['SLURM_NODELIST'])
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    # srun sets SLURM_LOCALID for every task; MMEngine's fallback for its
    # absence counts GPUs, which a CPU-only machine has none of.
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def set_env_from_mpi() -> None:
    """RANK, WORLD_SIZE and LOCAL_RANK from Open MPI's variables; MASTER_ADDR must
    be given (mpirun does not know which host to name), MASTER_PORT defaults."""
    if 'MASTER_ADDR' not in os.environ:
        raise KeyError('The environment variable MASTER_ADDR is not set')
    os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)
    os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
    os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
    os.environ['LOCAL_RANK'] = os.environ['OMPI_COMM_WORLD_LOCAL_RANK']


def init_cpu_process_group(launcher: str, backend: str = 'gloo',
                           timeout: Optional[float] = None, port: Optional[int] = None,
                           **kwargs) -> None:
    """Joins the default process group for ``launcher`` ('pytorch', 'slurm' or
    'mpi') without touching CUDA.

    Takes the config's ``env_cfg.dist_cfg`` as MMEngine's ``init_dist`` does:
    ``timeout`` in seconds, ``port`` (slurm only) and further keyword arguments
    of ``torch.distributed.init_process_group``.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher {launcher!r} is not one of {LAUNCHERS}')
    if port is not None and launcher != 'slurm':
        raise ValueError(f"dist_cfg.port is for the slurm launcher, not {launcher!r}")
    if launcher == 'slurm':
        set_env_from_slurm(port)
    elif launcher == 'mpi':
        set_env_from_mpi()
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(backend=backend, init_method='env://', **kwargs)
