"""``num_workers='auto'`` gives each training process its share of the CPUs."""
import pytest
from mmengine.config import Config

from conftest import REPO_ROOT
from ssd_ext.engine.launch import build_runner
from ssd_ext.engine.launch.loader_workers import (auto_num_workers, cpus_per_process,
                                                  processes_per_node, resolve_auto_workers)
from ssd_ext.utils.machine import available_cpus

LAUNCHER_VARIABLES = ('LOCAL_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE', 'SLURM_NTASKS_PER_NODE',
                      'SLURM_TASKS_PER_NODE', 'SLURM_CPUS_PER_TASK')


@pytest.mark.parametrize('cpus, expected', [
    (2, 1),     # this project's 2-core machines: one worker beside the model
    (16, 15),   # one GPU on a 16-core node
    (1, 1),     # never zero workers
    (256, 16),  # capped
])
def test_auto_workers_are_the_process_cpus_less_one(cpus, expected):
    assert auto_num_workers(cpus) == expected


def test_auto_workers_refuse_no_cpus():
    with pytest.raises(ValueError, match='got 0'):
        auto_num_workers(0)


@pytest.mark.parametrize('environ, expected', [
    ({}, 1),
    ({'LOCAL_WORLD_SIZE': '8'}, 8),                 # torchrun
    ({'OMPI_COMM_WORLD_LOCAL_SIZE': '4'}, 4),       # Open MPI
    ({'SLURM_NTASKS_PER_NODE': '4'}, 4),            # sbatch/srun --ntasks-per-node
    ({'SLURM_TASKS_PER_NODE': '2(x3),8'}, 8),       # any Slurm step; uneven: the largest
])
def test_processes_per_node_follow_the_launcher(environ, expected):
    assert processes_per_node(environ) == expected


@pytest.mark.parametrize('cpus, environ, expected', [
    (16, {}, 16),
    (16, {'LOCAL_WORLD_SIZE': '8'}, 2),             # torchrun: the node shared
    (5, {'SLURM_NTASKS_PER_NODE': '8', 'SLURM_CPUS_PER_TASK': '5'}, 5),  # bound by Slurm
    (40, {'SLURM_NTASKS_PER_NODE': '8', 'SLURM_CPUS_PER_TASK': '5'}, 5),  # not bound
])
def test_cpus_per_process_do_not_divide_a_slurm_binding_twice(cpus, environ, expected):
    assert cpus_per_process(cpus, environ) == expected


def test_base_configs_ask_for_auto_and_get_integers():
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'ssd300.py'))
    assert cfg.train_dataloader.num_workers == 'auto'
    resolved = resolve_auto_workers(cfg, workers=7)
    assert resolved == {'train_dataloader': 7, 'val_dataloader': 7, 'test_dataloader': 7}
    assert cfg.train_dataloader.num_workers == 7 and cfg.test_dataloader.num_workers == 7


def test_integers_are_kept_and_other_values_named():
    cfg = Config(dict(train_dataloader=dict(num_workers=3), val_dataloader=None))
    assert resolve_auto_workers(cfg) == {}
    assert cfg.train_dataloader.num_workers == 3
    cfg = Config(dict(val_dataloader=dict(num_workers='many')))
    with pytest.raises(ValueError, match=r"val_dataloader.num_workers='many'"):
        resolve_auto_workers(cfg)


def test_runner_built_from_a_config_with_auto_loads_with_that_many_workers(
        shared_data, tmp_path, monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'ssd300.py'))
    # Random init: the paper config's ImageNet VGG16 is checked before the
    # Runner is built, and is not on this machine.
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': f'{shared_data}/tiny_coco/',
                         'train_dataloader.batch_size': 2, 'model.backbone.init_cfg': None})
    cfg.work_dir = str(tmp_path)
    runner = build_runner(cfg, training=True)
    loader = runner.train_loop.dataloader
    assert loader.num_workers == auto_num_workers(available_cpus())
    assert len(next(iter(loader))['inputs']) == 2
