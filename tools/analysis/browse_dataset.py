"""Write the training pipeline's augmented images with their boxes drawn.

``python tools/analysis/browse_dataset.py CONFIG [--output-dir browse]
[--num 10] [--cfg-options KEY=VALUE ...]``

Builds ``train_dataloader.dataset`` (dataset wrappers included) and runs its
pipeline on the first ``--num`` samples, as training sees them: after
resizing, cropping, flipping and photometric changes. Each is drawn with
MMDetection's ``DetLocalVisualizer`` (ground-truth boxes and class names) to
``OUTPUT_DIR/<index>_<image name>``. Running it twice gives other random
augmentations.
"""
import argparse
import os
import os.path as osp
import sys


def parse_args() -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description='Draw augmented training samples')
    parser.add_argument('config', help='config file')
    parser.add_argument('--output-dir', default='browse', help='where to write images')
    parser.add_argument('--num', type=int, default=10, help='number of samples')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format')
    return parser.parse_args()


def loads_rgb(pipeline) -> bool:
    """Whether the pipeline's image loading gives RGB (else OpenCV's BGR)."""
    for t in pipeline or []:
        if 'LoadImage' in str(t.get('type', '')):
            return t.get('channel_order', 'bgr') == 'rgb'
    return False


def dataset_pipeline(dataset_cfg):
    while 'pipeline' not in dataset_cfg:
        if 'dataset' in dataset_cfg:
            dataset_cfg = dataset_cfg['dataset']
        elif 'datasets' in dataset_cfg:
            dataset_cfg = dataset_cfg['datasets'][0]
        else:
            return None
    return dataset_cfg['pipeline']


def main() -> int:
    args = parse_args()
    if not osp.isfile(args.config):
        sys.exit(f'error: config not found: {args.config}')
    if args.num < 1:
        sys.exit(f'error: --num must be positive, got {args.num}')

    import numpy as np

    import ssd_ext  # noqa: F401  (registers modules and transforms)
    from mmdet.registry import DATASETS, VISUALIZERS
    from mmdet.structures.bbox import BaseBoxes
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.utils import ProgressBar

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset_cfg = cfg.train_dataloader.dataset
    rgb = loads_rgb(dataset_pipeline(dataset_cfg))
    dataset = DATASETS.build(dataset_cfg)
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer',
                                        name=f'browse_dataset_{os.getpid()}'))
    visualizer.dataset_meta = dataset.metainfo

    os.makedirs(args.output_dir, exist_ok=True)
    num = min(args.num, len(dataset))
    bar = ProgressBar(num)
    boxes_drawn = 0
    for index in range(num):
        item = dataset[index]
        # PackDetInputs gives a CHW tensor in the loading order (BGR), float
        # after SSDPhotometricDistortion, whose values may leave 0..255: clip
        # them, since the visualizer's uint8 cast would wrap -5 to 251.
        img = item['inputs'].permute(1, 2, 0).numpy()
        if not rgb:
            img = img[..., ::-1]
        img = np.clip(img, 0, 255).round().astype(np.uint8)
        sample = item['data_samples'].numpy()
        gt = sample.gt_instances
        if isinstance(gt.get('bboxes', None), BaseBoxes):
            gt.bboxes = gt.bboxes.tensor
        boxes_drawn += len(gt)
        name = osp.basename(sample.metainfo.get('img_path', f'{index}.png'))
        visualizer.add_datasample(name, img, data_sample=sample, draw_pred=False,
                                  show=False, out_file=osp.join(args.output_dir,
                                                                f'{index:05d}_{name}'))
        bar.update()
    print(f'\n{num} augmented training image(s) with {boxes_drawn} box(es) written '
          f'to {args.output_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
