"""Speed of ssd_ext's SSD beside MMDetection's builtin SSD, in one run.

``python tools/analysis/benchmark.py CONFIG [--batch 8] [--amp] [--channels-last]``

Measures, for both models under the same settings (medians after warm-up; the two
models take turns within every repeat, so drift of the machine hits both alike):

- ``infer``: img/s of preprocess + forward + decode + NMS;
- ``train``: img/s of a training step (forward + loss + backward + SGD step);
- ``loss``: seconds of the loss and its targets alone for ``--loss-batch`` images;
- ``data``: img/s per worker of the config's train pipeline after image
  decoding, on real images (``--images``; skipped when absent). MMDetection's
  SSD pipeline includes the expansion step: compare it with
  ``configs/ssd300_expand_aug.py``.

``--compile`` compiles both networks for ``infer`` (``ssd_ext.engine.compile``;
the compilation happens in the warm-up and is not timed); ``--compile-train``
compiles them for ``train`` (weights not frozen: they change every step).

For ``train`` the work of a step is counted with torch's ``FlopCounterMode``
(convolutions and matrix products, 2 FLOPs per multiply-add: SSD300 about 206
GFLOP per image, SSD512 591) and the achieved TFLOP/s printed, with the model
FLOPs utilisation against ``--peak-tflops`` when given (the device's dense
peak for the autocast dtype, from its data sheet).

Weights are random (nothing is downloaded), so denormals are flushed: random
weights otherwise push fp32 into the CPU's slow denormal path and distort every
ratio. MMDetection's SSD is built from its packaged config of the same input
size (300 or 512 only), and ssd_ext's model gets its weights (converted), so both
decode and suppress the same detections; a config of another architecture (class
count, norm layers) keeps its own random init, as the output says.
"""
import argparse
import copy
import glob
import os
import statistics
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import ssd_ext  # noqa: F401  (registers modules)
from ssd_ext.engine.compile import compile_network, inductor_freezing
from ssd_ext.engine.precision.amp_choice import AMP_DTYPES, resolve_amp_dtype
from ssd_ext.models.weight_conversion import mmdet_ssd_to_ssd_ext
from ssd_ext.utils.machine import machine_description

# Beside this file (a script's folder is on sys.path).
from mmdet_reference import build_mmdet_ssd


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--parts', default='infer,train,loss,data')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--loss-batch', type=int, default=32)
    parser.add_argument('--iters', type=int, default=10, help='timed repeats')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--amp', action='store_true',
                        help="autocast where it pays, as tools/train.py's --amp: fp16 on "
                        'CUDA, bf16 on a CPU with native bf16, fp32 on other CPUs')
    parser.add_argument('--amp-dtype', choices=AMP_DTYPES, default='auto',
                        help='autocast dtype of --amp (default: chosen by the hardware)')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--compile', action='store_true',
                        help='TorchInductor-compiled networks for infer')
    parser.add_argument('--compile-train', action='store_true',
                        help='TorchInductor-compiled networks for train')
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help="the device's dense peak TFLOP/s, for train's MFU")
    parser.add_argument('--threads', type=int, default=None)
    # Exactly these names: timing synchronises and autocast chooses for 'cuda'
    # (one GPU, the current one), so 'cuda:1' would time unsynchronised work.
    parser.add_argument('--device', choices=('cpu', 'cuda'),
                        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--images', default=os.path.join(
        os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'bccd', 'JPEGImages'),
        help='folder of real images for the data-pipeline benchmark')
    return parser.parse_args()


def _timed(fn: Callable[[], None], device: str) -> float:
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def median_times(fns: Sequence[Callable[[], None]], iters: int, warmup: int,
                 device: str) -> List[float]:
    """Median seconds of each of ``fns``, run in turn within every repeat, so
    that a machine slowing down or speeding up mid-run affects all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(iters):
        for fn, record in zip(fns, times):
            record.append(_timed(fn, device))
    return [statistics.median(record) for record in times]


def fake_batch(batch: int, size: int, device: str, with_gt: bool, num_gts: int = 7,
               seed: int = 0) -> Dict:
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8)
              for _ in range(batch)]
    samples = []
    for _ in range(batch):
        ds = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                         scale_factor=(1.0, 1.0), pad_shape=(size, size)))
        if with_gt:
            xy = torch.rand(num_gts, 2, generator=gen) * size * 0.7
            wh = torch.rand(num_gts, 2, generator=gen) * size * 0.3 + 8
            ds.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1).to(device),
                labels=torch.randint(0, 3, (num_gts,), generator=gen).to(device))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def prepare(model: torch.nn.Module, args: argparse.Namespace) -> torch.nn.Module:
    model = model.to(args.device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def autocast(args: argparse.Namespace):
    if args.autocast_dtype is None:
        return nullcontext()
    return torch.autocast(args.device, dtype=getattr(torch, args.autocast_dtype))


def preprocess(model, data: Dict, training: bool, args: argparse.Namespace) -> Dict:
    out = model.data_preprocessor(data, training)
    if args.channels_last:
        out['inputs'] = out['inputs'].contiguous(memory_format=torch.channels_last)
    return out


def infer_step(model, size: int, args) -> Callable[[], None]:
    """Network under autocast; decoding and NMS in fp32 outside it, for both
    models (MMDetection 3.3.0's SSDHead cannot decode bf16 maps; docs/upstream.md)."""
    model.eval()
    if args.compile:
        model = compile_network(copy.deepcopy(model))  # train and loss stay eager
    data = fake_batch(args.batch, size, args.device, with_gt=False)
    metas = [s.metainfo for s in data['data_samples']]
    # The parts are called directly, not through the detector's hooks.
    freezing = inductor_freezing if args.compile else nullcontext

    def step():
        with torch.no_grad():
            batch = preprocess(model, data, False, args)
            with autocast(args), freezing():
                cls_scores, bbox_preds = model.bbox_head(model.extract_feat(batch['inputs']))
            model.bbox_head.predict_by_feat([c.float() for c in cls_scores],
                                            [b.float() for b in bbox_preds],
                                            batch_img_metas=metas, rescale=True)
    return step


def _backward_total_loss(model, batch: Dict, args) -> None:
    with autocast(args):
        losses = model(**batch, mode='loss')
    total = sum(v.sum() if not isinstance(v, list) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    total.backward()


def train_step(model, size: int, args) -> Callable[[], None]:
    model.train()
    if args.compile_train:
        model = copy.deepcopy(model)  # infer and loss stay eager
        for part in (model.backbone, model.neck, model.bbox_head):
            part.compile()
    data = fake_batch(args.batch, size, args.device, with_gt=True)
    optim = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)

    def step():
        batch = preprocess(model, data, True, args)
        optim.zero_grad()
        _backward_total_loss(model, batch, args)
        optim.step()
    return step


def train_flops_per_image(model, size: int, args, batch: int = 2) -> float:
    """FLOPs of a training step's forward, loss and backward per image, as
    ``FlopCounterMode`` counts them (no optimizer step; gradients left zeroed)."""
    model.train()
    data = preprocess(model, fake_batch(batch, size, args.device, with_gt=True), True, args)
    counter = FlopCounterMode(display=False)
    with counter:
        _backward_total_loss(model, data, args)
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def loss_step(model, size: int, args) -> Callable[[], None]:
    """One loss computation (targets, matching, mining) on random maps."""
    model.train()
    head = model.bbox_head
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, size, size, device=args.device))
    gen = torch.Generator().manual_seed(0)
    shapes = [f.shape[-2:] for f in feats]
    cls = [torch.randn(args.loss_batch, c.out_channels, *s, generator=gen).to(args.device)
           for c, s in zip(_convs(head.cls_convs), shapes)]
    reg = [torch.randn(args.loss_batch, c.out_channels, *s, generator=gen).to(args.device)
           for c, s in zip(_convs(head.reg_convs), shapes)]
    samples = fake_batch(args.loss_batch, size, args.device, with_gt=True)['data_samples']
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]

    def step():
        if hasattr(head, 'get_targets'):  # MMDetection's SSDHead
            head.loss_by_feat(cls, reg, gts, metas)
        else:
            head.loss_by_feat(cls, reg, gts)
    return step


def _convs(layers) -> List[torch.nn.Conv2d]:
    return [layer[0] if isinstance(layer, torch.nn.Sequential) else layer
            for layer in layers]


def data_step(cfg: Config, args) -> Optional[Callable[[], None]]:
    """One sample through the train pipeline after decoding, in this process
    (None without images)."""
    from mmcv import imread
    from mmengine.dataset import Compose
    files = sorted(glob.glob(os.path.join(args.images, '*.jpg')))[:16]
    if not files:
        return None
    dataset = cfg.train_dataloader.dataset
    while 'pipeline' not in dataset:  # RepeatDataset and other wrappers
        dataset = dataset.dataset
    transforms = [t for t in dataset.pipeline
                  if t['type'] not in ('LoadImageFromFile', 'LoadAnnotations')]
    pipeline = Compose(transforms)
    rng = np.random.default_rng(0)
    samples = []
    for f in files:
        img = imread(f)
        h, w = img.shape[:2]
        xy = rng.uniform(0, 0.7, (7, 2)) * (w, h)
        wh = rng.uniform(0.05, 0.3, (7, 2)) * (w, h)
        samples.append(dict(img=img, img_shape=(h, w), ori_shape=(h, w), img_path=f,
                            img_id=0, gt_bboxes=_hbox(np.hstack([xy, xy + wh])),
                            gt_bboxes_labels=np.zeros(7, np.int64),
                            gt_ignore_flags=np.zeros(7, bool)))
    index = [0]

    def step():
        sample = samples[index[0] % len(samples)]
        index[0] += 1
        pipeline({k: (v.copy() if hasattr(v, 'copy') else v) for k, v in sample.items()})
    return step


def _hbox(array: np.ndarray):
    from mmdet.structures.bbox import HorizontalBoxes
    return HorizontalBoxes(torch.as_tensor(array, dtype=torch.float32))


def main() -> None:
    args = parse_args()
    args.autocast_dtype = (resolve_amp_dtype(args.amp_dtype, cuda=args.device == 'cuda')
                           if args.amp else None)
    torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    cfg = Config.fromfile(args.config)
    size = int(cfg.model.bbox_head.prior_generator.input_size)
    if size not in (300, 512):
        raise SystemExit(f'{args.config}: input size {size}; MMDetection ships SSD300 and '
                         f'SSD512 only, so there is nothing to compare with')
    # Speed does not depend on the values: time random weights, with no file to fetch.
    cfg.model.backbone.init_cfg = None
    cfg.model.pop('init_cfg', None)
    torch.manual_seed(0)
    ref = build_mmdet_ssd(size)
    ref.init_weights()
    ours = MODELS.build(cfg.model)
    try:
        ours.load_state_dict(mmdet_ssd_to_ssd_ext(ref.state_dict()))
        weights = "MMDetection's, converted"
    except (KeyError, RuntimeError) as err:  # not MMDetection's architecture
        ours.init_weights()
        weights = f"ssd_ext's own random init ({str(err).splitlines()[0][:80]})"
    ours, ref = prepare(ours, args), prepare(ref, args)
    parts = args.parts.split(',')
    print(f'machine: {machine_description(args.device)}')
    print(f'device={args.device} threads={torch.get_num_threads()} batch={args.batch} '
          f'amp={args.amp} (autocast: {args.autocast_dtype or "none, fp32"}) '
          f'channels_last={args.channels_last} compile={args.compile} '
          f'compile_train={args.compile_train} '
          f'input={size}\nssd_ext weights: {weights}')
    rows = []
    for part, make, unit in (('infer', infer_step, 'img/s'), ('train', train_step, 'img/s'),
                             ('loss', loss_step, 's')):
        if part in parts:
            a, b = median_times([make(ours, size, args), make(ref, size, args)],
                                args.iters, args.warmup, args.device)
            if unit == 'img/s':
                rows.append((part, args.batch / a, args.batch / b, unit, b / a))
            else:
                rows.append((part, a, b, unit, b / a))
    if 'data' in parts:
        ref_cfg = Config.fromfile(os.path.join(
            os.path.dirname(__import__('mmdet').__file__), '.mim', 'configs', 'ssd',
            f'ssd{size}_coco.py'))
        steps = [data_step(cfg, args), data_step(ref_cfg, args)]
        if None in steps:
            print(f'data: no images in {args.images}, skipped')
        else:
            a, b = median_times(steps, max(args.iters * 10, 50), args.warmup, 'cpu')
            rows.append(('data', 1 / a, 1 / b, 'img/s', b / a))
    print(f'{"part":<6} {"ssd_ext":>10} {"mmdet":>10} {"unit":<6} speed-up')
    for part, a, b, unit, ratio in rows:
        print(f'{part:<6} {a:>10.3f} {b:>10.3f} {unit:<6} {ratio:.2f}x')
    if 'train' in parts:
        print_train_flops(ours, ref, size, args, rows)


def print_train_flops(ours, ref, size: int, args, rows) -> None:
    """GFLOP per training image, achieved TFLOP/s and MFU of the train rows."""
    rates = next((a, b) for part, a, b, *_ in rows if part == 'train')
    for name, model, rate in (('ssd_ext', ours, rates[0]), ('mmdet', ref, rates[1])):
        flops = train_flops_per_image(model, size, args)
        achieved = rate * flops / 1e12
        mfu = (f', MFU {100 * achieved / args.peak_tflops:.1f}% of {args.peak_tflops:g}'
               if args.peak_tflops else '')
        print(f'train {name}: {flops / 1e9:.1f} GFLOP/img, {achieved:.2f} TFLOP/s{mfu}')


if __name__ == '__main__':
    main()
