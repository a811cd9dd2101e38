"""Detect objects in an image or a folder of images and draw them.

``python tools/image_demo.py IMG_OR_DIR CONFIG CHECKPOINT [--out-dir outputs]
[--score-thr 0.3] [--device cpu] [--cfg-options KEY=VALUE ...]``

Writes ``OUT_DIR/<image name>`` with the detections above ``--score-thr``
drawn (class name and score per box, MMDetection's ``DetLocalVisualizer``) and
``OUT_DIR/predictions.json``: one entry per input image with ``file``,
``out_file``, ``boxes`` ([x1, y1, x2, y2] in the original image's pixels),
``scores``, ``labels`` and ``label_names``, for the same detections.

The model is built and loaded by ``ssd_ext.apis.build_detector`` (weights-only
and strict: a file with other pickled objects, or weights of another model, is
refused, whatever torch's default is) and run by mmdet's
``inference_detector``; class names come from its ``meta.dataset_meta``, else from the config's
test dataset. ``--cfg-options model.test_cfg.score_thr=...`` etc. change the
head's post-processing.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import uuid
import warnings
from typing import List, Tuple

from mmengine.config import DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run a detector on images')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (loaded weights-only)')
    parser.add_argument('--out-dir', default='outputs', help='where to write results')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detections below this score are not drawn or listed')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, xxx=yyy format, e.g. '
                        'model.test_cfg.score_thr=0.1')
    return parser.parse_args()


def checkpoint_meta(path: str) -> dict:
    """Opens ``path`` weights-only (refusing files with other pickled objects)
    and returns its ``meta``. Tensors are memory-mapped, not read: the file is
    loaded again by ``build_detector``."""
    from ssd_ext.utils.checkpoint_io import safe_load
    ckpt = safe_load(path, mmap=True)  # raises with a clear message if unsafe
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return meta if isinstance(meta, dict) else {}


def class_meta(cfg, ckpt_meta: dict) -> Tuple[dict, str]:
    """``dataset_meta`` of the checkpoint, else the config test dataset's, and
    which of the two it is."""
    # Lower-cased as mmdet's init_detector does: older checkpoints say 'CLASSES'.
    meta = {k.lower(): v for k, v in (ckpt_meta.get('dataset_meta') or {}).items()}
    if 'classes' in meta:
        return meta, 'checkpoint'
    from mmdet.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg['lazy_init'] = True  # metainfo only: no annotation file is read
    return dict(DATASETS.build(dataset_cfg).metainfo), 'config'


def main() -> int:
    args = parse_args()
    for path, what in ((args.inputs, 'input image or folder'), (args.config, 'config'),
                       (args.checkpoint, 'checkpoint')):
        if not osp.exists(path):
            sys.exit(f'error: {what} not found: {path}')

    import ssd_ext  # noqa: F401  (registers modules)
    from mmdet.registry import VISUALIZERS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.utils import ProgressBar

    from ssd_ext.apis import build_detector
    from ssd_ext.utils.inference_input import inference_pipeline_cfg
    from ssd_ext.utils.images import image_files

    try:
        files: List[str] = image_files(args.inputs)
    except FileNotFoundError as err:
        sys.exit(f'error: {err}')
    try:
        ckpt_meta = checkpoint_meta(args.checkpoint)
    except (FileNotFoundError, RuntimeError) as err:
        sys.exit(f'error: {err}')

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    # The test pipeline loads annotations for evaluation; plain images have none.
    cfg.test_dataloader.dataset.pipeline = inference_pipeline_cfg(cfg)
    meta, meta_source = class_meta(cfg, ckpt_meta)
    # Strict, unlike mmdet's init_detector: a checkpoint of another model is an
    # error naming the missing and unexpected keys, not a warning before
    # drawing a half-initialised network's boxes.
    try:
        model = build_detector(cfg, args.checkpoint, device=args.device)
    except (ValueError, RuntimeError) as err:
        sys.exit(f'error: {err}')
    model.dataset_meta = meta  # no palette: the visualizer's seeded colours
    classes = list(meta['classes'])
    print(f'classes (from the {meta_source}): {classes}')

    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer',
                                        name=f'image_demo_{uuid.uuid4().hex}'))
    visualizer.dataset_meta = model.dataset_meta

    os.makedirs(args.out_dir, exist_ok=True)
    bar = ProgressBar(len(files)) if len(files) > 1 else None
    with warnings.catch_warnings():
        # The visualizer warns for every box that touches the image border.
        warnings.filterwarnings('ignore', message='.*is out of bounds.*')
        records = [detect(model, visualizer, file, args, classes, bar) for file in files]
    if bar is not None:
        print()
    json_file = osp.join(args.out_dir, 'predictions.json')
    with open(json_file, 'w') as f:
        json.dump(records, f)
    total = sum(len(r['scores']) for r in records)
    print(f'{len(files)} image(s), {total} detection(s) with score >= {args.score_thr}: '
          f'drawn images and {json_file} in {args.out_dir}')
    return 0


def detect(model, visualizer, file: str, args, classes, bar) -> dict:
    """Runs, draws and returns the JSON record of one image."""
    import mmcv
    from mmdet.apis import inference_detector
    result = inference_detector(model, file)
    pred = result.pred_instances
    pred = pred[pred.scores >= args.score_thr].cpu()
    out_file = osp.join(args.out_dir, osp.basename(file))
    image = mmcv.imread(file, channel_order='rgb')
    result.pred_instances = pred
    visualizer.add_datasample(osp.basename(file), image, data_sample=result,
                              draw_gt=False, show=False,
                              pred_score_thr=float('-inf'),  # filtered above
                              out_file=out_file)
    labels = [int(v) for v in pred.labels]
    if bar is not None:
        bar.update()
    return dict(file=osp.abspath(file), out_file=osp.abspath(out_file),
                height=int(image.shape[0]), width=int(image.shape[1]),
                boxes=[[round(float(v), 2) for v in box] for box in pred.bboxes],
                scores=[round(float(v), 5) for v in pred.scores],
                labels=labels, label_names=[classes[i] for i in labels])


if __name__ == '__main__':
    sys.exit(main())
