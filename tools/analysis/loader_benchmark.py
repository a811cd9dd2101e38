"""Images per second the training data loader delivers, for several worker counts.

``python tools/analysis/loader_benchmark.py CONFIG [--workers 0,1,2,auto]
[--batches 40] [--warmup 5] [--per-transform N] [--cfg-options KEY=VALUE ...]``

The config's own train loader (dataset, pipeline, sampler, batch size) is built as
the Runner builds it and drained with no model attached, so the figure is the
most the loader can feed a training step. With 0 workers it is the cost of one
core. ``auto`` is what ``num_workers='auto'`` gives on this machine
(``ssd_ext/engine/launch/loader_workers.py``). MMDetection's
``analysis_tools/benchmark.py --task dataloader`` measures the same thing.
"""
import argparse
import copy
import time
from typing import List, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import ssd_ext  # noqa: F401  (registers modules)
from ssd_ext.engine.launch.loader_workers import (AUTO, auto_num_workers, cpus_per_process,
                                                  processes_per_node)
from ssd_ext.utils.machine import available_cpus, machine_description


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--workers', default=f'0,1,{AUTO}',
                        help=f'comma-separated worker counts; {AUTO!r} as resolved here')
    parser.add_argument('--batches', type=int, default=40, help='timed batches')
    parser.add_argument('--warmup', type=int, default=5,
                        help='batches before timing (workers starting, first reads)')
    parser.add_argument('--per-transform', type=int, default=0, metavar='N',
                        help='also time each pipeline transform alone over N images '
                        'in this process')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. the data root')
    return parser.parse_args()


def parse_workers(text: str, auto: int) -> list:
    """``'0,2,auto'`` -> ``[0, 2, auto]``."""
    counts = []
    for item in text.split(','):
        item = item.strip()
        if item == AUTO:
            counts.append(auto)
        elif item.isdigit():
            counts.append(int(item))
        else:
            raise SystemExit(f'--workers: {item!r} is neither a count nor {AUTO!r}')
    return counts


def images_per_second(loader_cfg: dict, batches: int, warmup: int) -> float:
    """Images per second over ``batches`` batches, drawn after ``warmup`` more
    than the workers prefetch: the timed batches are all made while timed."""
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    stream = iter(loader)
    if loader.num_workers:
        warmup += loader.num_workers * loader.prefetch_factor
    for _ in range(warmup):
        next(stream)
    images = 0
    start = time.perf_counter()
    for _ in range(batches):
        images += len(next(stream)['inputs'])
    return images / (time.perf_counter() - start)


def transform_times(dataset_cfg: dict, samples: int) -> List[Tuple[str, float]]:
    """Mean seconds per image of each transform of the dataset's pipeline
    (loading included), in this process, over its first ``samples`` images."""
    from mmdet.registry import DATASETS
    dataset = DATASETS.build(dataset_cfg)
    while not hasattr(dataset, 'pipeline'):  # ConcatDataset and other wrappers
        dataset = dataset.datasets[0] if hasattr(dataset, 'datasets') else dataset.dataset
    transforms = dataset.pipeline.transforms
    totals = [0.0] * len(transforms)
    count = min(samples, len(dataset))
    for index in range(count):
        results = dataset.get_data_info(index)
        for i, transform in enumerate(transforms):
            start = time.perf_counter()
            results = transform(results)
            totals[i] += time.perf_counter() - start
    return [(type(t).__name__, total / count) for t, total in zip(transforms, totals)]


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    cpus, processes = available_cpus(), processes_per_node()
    auto = auto_num_workers(cpus_per_process(cpus))
    print(f'machine: {machine_description("cpu")}, {cpus} CPUs for {processes} process(es); '
          f"'{AUTO}' = {auto} workers")
    loader_cfg = cfg.train_dataloader
    print(f'config: {args.config}, batch {loader_cfg.batch_size}, '
          f'{args.batches} batches timed after {args.warmup}')
    print(f'{"workers":>7} {"img/s":>9}')
    for workers in parse_workers(args.workers, auto):
        run_cfg = copy.deepcopy(loader_cfg)
        run_cfg.update(num_workers=workers, persistent_workers=workers > 0)
        rate = images_per_second(run_cfg, args.batches, args.warmup)
        print(f'{workers:>7} {rate:>9.1f}', flush=True)
    if args.per_transform:
        print(f'each transform alone, mean of {args.per_transform} images:')
        for name, seconds in transform_times(loader_cfg.dataset, args.per_transform):
            print(f'{name:>28} {1e3 * seconds:>7.3f} ms')


if __name__ == '__main__':
    main()
