"""init_cpu_process_group: slurm's and Open MPI's variables become a gloo group.

One process, world size 1: the rank, world size, local rank and master address
must come from the launcher's own variables, as MMEngine's ``init_dist`` takes
them (``tests/integration/test_distributed.py`` runs the pytorch launcher on two).
"""
import os
import stat

import pytest
import torch.distributed as dist
from conftest import free_port

from ssd_ext.engine.launch.cpu_dist import init_cpu_process_group

DERIVED = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


@pytest.fixture
def clean_env(monkeypatch):
    for name in DERIVED:  # set first, so that teardown removes what the test sets
        monkeypatch.setenv(name, '')
        monkeypatch.delenv(name)
    yield monkeypatch
    if dist.is_initialized():
        dist.destroy_process_group()


def test_slurm_variables(clean_env, tmp_path):
    # srun's node list resolved by scontrol, as on a cluster
    scontrol = tmp_path / 'scontrol'
    scontrol.write_text('#!/bin/sh\n[ "$3" = "localnode[1-2]" ] && printf "127.0.0.1\\nother\\n"\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IEXEC)
    clean_env.setenv('PATH', f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    clean_env.setenv('SLURM_PROCID', '0')
    clean_env.setenv('SLURM_NTASKS', '1')
    clean_env.setenv('SLURM_LOCALID', '0')
    clean_env.setenv('SLURM_NODELIST', 'localnode[1-2]')
    port = free_port()
    init_cpu_process_group('slurm', backend='gloo', port=port, timeout=60)
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, 'gloo')
    assert os.environ['MASTER_ADDR'] == '127.0.0.1'
    assert os.environ['MASTER_PORT'] == str(port)
    assert os.environ['LOCAL_RANK'] == '0'


def test_mpi_variables(clean_env):
    clean_env.setenv('OMPI_COMM_WORLD_RANK', '0')
    clean_env.setenv('OMPI_COMM_WORLD_SIZE', '1')
    clean_env.setenv('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        init_cpu_process_group('mpi')
    clean_env.setenv('MASTER_ADDR', '127.0.0.1')
    clean_env.setenv('MASTER_PORT', str(free_port()))
    init_cpu_process_group('mpi')
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, 'gloo')
    assert os.environ['LOCAL_RANK'] == '0'


def test_unknown_launcher_and_misplaced_port(clean_env):
    with pytest.raises(ValueError, match='launcher'):
        init_cpu_process_group('none')
    with pytest.raises(ValueError, match='slurm'):
        init_cpu_process_group('pytorch', port=1234)
    assert not dist.is_initialized()
