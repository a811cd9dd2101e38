"""``tools/torchrun.sh``'s MAX_RESTARTS and ``tools/slurm_train.sh``'s requeue,
run with stand-ins for python, srun and scontrol that record their arguments."""
import os
import stat
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import REPO_ROOT

from ssd_ext.engine.checkpoint import PREEMPTED_EXIT_CODE

RECORDER = ('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "{log}"\n'
            'echo "${{TORCH_DISABLE_SHARE_RDZV_TCP_STORE:-}}" > "{log}.store"\nexit {code}\n')


def _recorder(path: Path, log: Path, code: str = '0') -> Path:
    path.write_text(RECORDER.format(log=log, code=code))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _run(cmd: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)


def _torchrun_args(tmp_path: Path, **variables: str) -> List[str]:
    """torchrun's arguments, then TORCH_DISABLE_SHARE_RDZV_TCP_STORE's value."""
    log = tmp_path / 'python.args'
    env = dict(os.environ, PYTHON=str(_recorder(tmp_path / 'python', log)), **variables)
    for key in ('NNODES', 'MAX_RESTARTS', 'NODE_RANK', 'PORT', 'MASTER_ADDR',
                'TORCH_DISABLE_SHARE_RDZV_TCP_STORE'):
        if key not in variables:
            env.pop(key, None)
    proc = _run([str(REPO_ROOT / 'tools' / 'dist_train.sh'), 'cfg.py', '2'], env)
    assert proc.returncode == 0, proc.stdout
    return log.read_text().split('\n')[:-1] + [(tmp_path / 'python.args.store').read_text()]


def test_without_restarts_torchrun_keeps_static_rendezvous(tmp_path):
    args = _torchrun_args(tmp_path, PORT='29777', NODE_RANK='0')
    assert {'--max-restarts=0', '--master_port=29777', '--node_rank=0'} <= set(args)
    assert not any(a.startswith('--rdzv') for a in args)
    assert args[-4:] == ['cfg.py', '--launcher', 'pytorch', '\n']


@pytest.mark.parametrize('nnodes', ['1', '2'])
def test_with_restarts_the_processes_meet_through_c10d(tmp_path, nnodes):
    args = _torchrun_args(tmp_path, MAX_RESTARTS='3', NNODES=nnodes, MASTER_ADDR='node1',
                          PORT='29778')
    assert {f'--nnodes={nnodes}', '--max-restarts=3', '--rdzv-backend=c10d',
            '--rdzv-endpoint=node1:29778', '--rdzv-id=ssd_ext'} <= set(args)
    assert not any(a.startswith(('--master', '--node_rank')) for a in args)
    # each start's process group on a store of its own (tools/torchrun.sh)
    assert args[-4:] == ['cfg.py', '--launcher', 'pytorch', '1\n']


def test_a_bad_max_restarts_is_refused_naming_it(tmp_path):
    proc = _run([str(REPO_ROOT / 'tools' / 'dist_train.sh'), 'cfg.py', '2'],
                dict(os.environ, MAX_RESTARTS='two'))
    assert proc.returncode == 2 and 'MAX_RESTARTS=two' in proc.stdout


def _slurm_train(tmp_path: Path, srun_code: int, **variables: str):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    _recorder(bin_dir / 'srun', tmp_path / 'srun.args', str(srun_code))
    _recorder(bin_dir / 'scontrol', tmp_path / 'scontrol.args')
    env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
    env.update(variables, PATH=f'{bin_dir}{os.pathsep}{env["PATH"]}')
    proc = _run([str(REPO_ROOT / 'tools' / 'slurm_train.sh'), 'part', 'job', 'cfg.py', 'wd',
                 '--resume', 'old.pth'], env)
    srun_args = (tmp_path / 'srun.args').read_text().split('\n')
    scontrol = tmp_path / 'scontrol.args'
    return proc, srun_args, scontrol.read_text().split() if scontrol.exists() else None


def test_slurm_requeues_a_preempted_batch_job(tmp_path):
    proc, srun_args, scontrol = _slurm_train(tmp_path, PREEMPTED_EXIT_CODE, SLURM_JOB_ID='42')
    assert proc.returncode == 0, proc.stdout
    assert scontrol == ['requeue', '42']
    assert 'requeueing job 42' in proc.stdout
    assert srun_args[-4:-1] == ['--resume', 'old.pth', '--launcher=slurm']


def test_a_requeued_job_resumes_from_the_latest_checkpoint(tmp_path):
    proc, srun_args, scontrol = _slurm_train(tmp_path, 0, SLURM_JOB_ID='42',
                                             SLURM_RESTART_COUNT='1')
    assert proc.returncode == 0 and scontrol is None
    # the added --resume (latest checkpoint) comes after the first run's own
    assert srun_args[-5:-1] == ['--resume', 'old.pth', '--resume', '--launcher=slurm']


@pytest.mark.parametrize('code, job', [(1, '42'), (PREEMPTED_EXIT_CODE, None)])
def test_other_failures_and_jobs_outside_a_batch_are_not_requeued(tmp_path, code, job):
    proc, _, scontrol = _slurm_train(tmp_path, code, **({'SLURM_JOB_ID': job} if job else {}))
    assert proc.returncode == code and scontrol is None
