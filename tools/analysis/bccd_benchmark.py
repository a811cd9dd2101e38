"""Train ssd_ext's SSD300 and MMDetection's builtin SSD300 on BCCD with the same
iteration budget and data, then report val AP / AP50 (per class) for both.

``python tools/analysis/bccd_benchmark.py BCCD_VOC_ROOT [--iters 300] [--batch 4]``

Both train from scratch (nothing can be downloaded) with ``--amp``'s precision
(bf16 autocast on a CPU with native bf16, fp32 on other CPUs) and are evaluated
in fp32. ssd_ext uses ``configs/bccd/ssd300_bccd.py`` as
shipped (its warmup cut to a third of the budget, cosine decay over it);
MMDetection's SSD300 uses its own packaged settings (SGD lr 2e-3, its
augmentation, its linear warmup likewise cut to a third of the budget), only with
3 classes, no pretrained backbone, and the same batch and budget. Whatever
MMDetection's run does (NaN included) is reported, not hidden.
"""
import argparse
import json
import math
import os
import os.path as osp
import tempfile
import time

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import ssd_ext  # noqa: F401  (registers modules)
from ssd_ext.registry import HOOKS
from ssd_ext.data.voc_to_coco import convert_split
from ssd_ext.engine.launch import enable_amp

# Beside this file (a script's folder is on sys.path).
from mmdet_reference import SoftmaxLossPlaceholder, mmdet_ssd_config

CLASSES = ('RBC', 'WBC', 'Platelets')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@HOOKS.register_module()
class MMDetSSDPredictFixHook(Hook):
    """Lets MMDetection 3.3.0's SSDHead predict (see mmdet_reference.py)."""

    def before_run(self, runner) -> None:
        runner.model.bbox_head.loss_cls = SoftmaxLossPlaceholder()


def convert(voc_root: str, out: str) -> None:
    os.makedirs(osp.join(out, 'annotations'), exist_ok=True)
    for split in ('train', 'val'):
        coco, _ = convert_split(voc_root, split, list(CLASSES))
        with open(osp.join(out, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(coco, f)
    link = osp.join(out, 'JPEGImages')
    if not osp.exists(link):
        os.symlink(osp.join(osp.abspath(voc_root), 'JPEGImages'), link)


def point_at_bccd(cfg: Config, data_root: str, batch: int, iters: int) -> None:
    """Same data, batch, budget and evaluation for both detectors."""
    cfg.model.bbox_head.num_classes = len(CLASSES)
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                          ('test_dataloader', 'val')):
        if cfg[loader].dataset.type == 'RepeatDataset':  # epochs make no sense here
            cfg[loader].dataset = cfg[loader].dataset.dataset
        ds = cfg[loader].dataset
        ds.update(data_root=data_root, ann_file=f'annotations/{split}.json',
                  data_prefix=dict(img='JPEGImages/'), metainfo=dict(classes=CLASSES))
        cfg[loader].update(num_workers=1, persistent_workers=True)
    cfg.train_dataloader.batch_size = batch
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.train_dataloader.pop('batch_sampler', None)
    cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=True, min_size=0)
    for key in ('val_evaluator', 'test_evaluator'):
        cfg[key] = dict(type='CocoMetric', metric='bbox', classwise=True,
                        ann_file=osp.join(data_root, 'annotations/val.json'))
    warmup = [s for s in cfg.param_scheduler if s['type'] == 'LinearLR']
    cfg.param_scheduler = [dict(s, end=min(s.get('end', 100), iters // 3)) for s in warmup]
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters,
                                        by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=20)
    cfg.log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
    cfg.randomness = dict(seed=0)
    enable_amp(cfg, training=True)
    # Evaluate in fp32: MMDetection 3.3.0's SSDHead cannot predict under bf16
    # autocast ("Got unsupported ScalarType BFloat16"; docs/upstream.md).
    cfg.val_cfg.fp16 = cfg.test_cfg.fp16 = False


def run(name: str, cfg: Config, work_dir: str) -> dict:
    cfg.work_dir = work_dir
    start = time.time()
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
        metrics = runner.val_loop.run() if runner.val_loop else {}
    except Exception as err:  # a diverged run is a result, not a crash
        metrics = {'error': f'{type(err).__name__}: {err}'}
    metrics['train_minutes'] = (time.time() - start) / 60
    print(f'[{name}] {metrics}')
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('voc_root')
    parser.add_argument('--iters', type=int, default=300)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--models', default='ssd_ext,mmdet',
                        help='which of ssd_ext,mmdet to run')
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix='bccd_bench_')
    data_root = osp.join(work, 'bccd') + '/'
    convert(args.voc_root, data_root)
    init_default_scope('mmdet')

    ours = Config.fromfile(osp.join(REPO, 'configs/bccd/ssd300_bccd.py'))
    point_at_bccd(ours, data_root, args.batch, args.iters)
    ours.param_scheduler.append(dict(type='CosineAnnealingLR', by_epoch=False, begin=0,
                                     end=args.iters, eta_min=1e-5))
    theirs = mmdet_ssd_config(300)
    point_at_bccd(theirs, data_root, args.batch, args.iters)
    theirs.custom_hooks = [dict(type='MMDetSSDPredictFixHook')]

    configs = {'ssd_ext': ours, 'mmdet': theirs}
    results = {name: run(name, configs[name], osp.join(work, name))
               for name in args.models.split(',')}
    keys = ['bbox_mAP', 'bbox_mAP_50'] + [f'{c}_precision' for c in CLASSES]
    print(f'\nBCCD val after {args.iters} iterations at batch {args.batch} (bf16, CPU)')
    print('| model | AP | AP50 | ' + ' | '.join(f'AP {c}' for c in CLASSES) + ' | minutes |')
    print('|---' * (len(keys) + 2) + '|')
    for name, metrics in results.items():
        vals = [metrics.get(f'coco/{k}', math.nan) for k in keys]
        print(f'| {name} | ' + ' | '.join(f'{v:.3f}' for v in vals) +
              f' | {metrics["train_minutes"]:.1f} |' +
              (f' {metrics["error"]}' if 'error' in metrics else ''))
    with open(osp.join(work, 'bccd_benchmark.json'), 'w') as f:
        json.dump(results, f, indent=2, default=str)


if __name__ == '__main__':
    main()
