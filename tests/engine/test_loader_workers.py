"""``num_workers='auto'`` gives each process of a node its share of the CPUs."""
import pytest
from mmengine.config import Config

from conftest import REPO_ROOT
from ssd_ext.engine.launch import build_runner
from ssd_ext.engine.loader_workers import (auto_num_workers, available_cpus,
                                           processes_per_node, resolve_auto_workers)


@pytest.mark.parametrize('cpus, processes, expected', [
    (2, 1, 1),      # this project's 2-core machines: one worker beside the model
    (16, 1, 15),    # one GPU on a 16-core node
    (16, 8, 1),     # eight GPUs sharing 16 cores: never zero workers
    (128, 8, 15),
    (256, 1, 16),   # capped
    (1, 1, 1),
])
def test_auto_workers_share_the_cpus_less_one_per_process(cpus, processes, expected):
    assert auto_num_workers(cpus, processes) == expected


def test_auto_workers_refuse_an_empty_machine():
    with pytest.raises(ValueError, match='got 0 and 1'):
        auto_num_workers(0, 1)


@pytest.mark.parametrize('environ, expected', [
    ({}, 1),
    ({'LOCAL_WORLD_SIZE': '8'}, 8),                # torchrun
    ({'OMPI_COMM_WORLD_LOCAL_SIZE': '4'}, 4),      # Open MPI
    ({'SLURM_NTASKS_PER_NODE': '4'}, 4),
    ({'SLURM_NTASKS_PER_NODE': '2(x3),8'}, 8),     # uneven nodes: the largest
])
def test_processes_per_node_follow_the_launcher(environ, expected):
    assert processes_per_node(environ) == expected


def test_base_configs_ask_for_auto_and_get_integers():
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'ssd300.py'))
    assert cfg.train_dataloader.num_workers == 'auto'
    resolved = resolve_auto_workers(cfg, cpus=64, processes=8)
    assert resolved == {'train_dataloader': 7, 'val_dataloader': 7, 'test_dataloader': 7}
    assert cfg.train_dataloader.num_workers == 7 and cfg.test_dataloader.num_workers == 7


def test_integers_are_kept_and_other_values_named():
    cfg = Config(dict(train_dataloader=dict(num_workers=3), val_dataloader=None))
    assert resolve_auto_workers(cfg, cpus=64, processes=1) == {}
    assert cfg.train_dataloader.num_workers == 3
    cfg = Config(dict(val_dataloader=dict(num_workers='many')))
    with pytest.raises(ValueError, match=r"val_dataloader.num_workers='many'"):
        resolve_auto_workers(cfg)


def test_runner_built_from_a_config_with_auto_loads_with_that_many_workers(
        shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'ssd300.py'))
    cfg.merge_from_dict({'train_dataloader.dataset.data_root': f'{shared_data}/tiny_coco/',
                         'train_dataloader.batch_size': 2})
    cfg.work_dir = str(tmp_path)
    runner = build_runner(cfg, training=True)
    loader = runner.train_loop.dataloader
    assert loader.num_workers == auto_num_workers(available_cpus(), 1)
    assert len(next(iter(loader))['inputs']) == 2
