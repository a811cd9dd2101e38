"""Checks that need an NVIDIA GPU: ``pytest -m cuda`` (they skip without one).

- ``--amp`` training steps of SSD300 (fp16 and bf16 autocast through
  ``SkipSafeAmpOptimWrapper``) give a finite loss and move the weights;
- a step skipped by the real CUDA loss scaler leaves fused SGD's weights alone,
  and the next step is the unfused update;
- SSD300's detections on the GPU are the CPU's (same weights, same inputs);
- the loop-free NMS on CUDA keeps what mmcv's CUDA NMS keeps;
- ``tools/analysis/benchmark.py --device cuda --amp --channels-last`` infers and
  trains and counts the training FLOPs;
- ``tools/train.py --amp`` trains SSD300 on real images with finite losses.

TF32 is turned off throughout, so that GPU and CPU compute the same float32
numbers up to rounding.
"""
import copy
import json
import math
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import ssd_ext.models.box_head.multibox_head as multibox_head
from ssd_ext.engine.launch import enable_amp
from ssd_ext.engine.precision.skip_safe_amp import SkipSafeAmpOptimWrapper
from ssd_ext.models.box_head.loop_free_nms import loop_free_batched_nms
from ssd_ext.registry import MODELS
from conftest import load_script

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs an NVIDIA GPU (torch.cuda.is_available() is False)'),
]

SIZE = 300


def module_at(repo_root, relative_path: str):
    """A module of this repository loaded from its path, for its helpers (test
    folders are not packages and tools/ is not installed)."""
    return load_script(repo_root / relative_path)


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def build_ssd300(repo_root, cls_weight_scale: float = 1.0):
    """SSD300 from its config, seeded random weights, on the CPU. A
    ``cls_weight_scale`` below 1 keeps random scores off the saturated 1.0
    (where exactly tied scores would make the choice among boxes arbitrary)."""
    init_default_scope('mmdet')
    torch.manual_seed(0)
    cfg = Config.fromfile(str(repo_root / 'configs/ssd300.py'))
    cfg.model.backbone.init_cfg = None  # seeded random weights, no ImageNet file
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for conv in model.bbox_head.cls_convs:
            conv.weight.mul_(cls_weight_scale)
    return model


def fake_batch(repo_root, batch: int, with_gt: bool) -> dict:
    """What the data loader gives (uint8 images, data samples), on the CPU:
    tools/analysis/benchmark.py's batch."""
    benchmark = module_at(repo_root, 'tools/analysis/benchmark.py')
    return benchmark.fake_batch(batch, SIZE, 'cpu', with_gt=with_gt)


# ------------------------------------------------------------- AMP training
@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_training_steps_are_finite_and_move_the_weights(repo_root, dtype):
    if dtype == 'bfloat16' and not torch.cuda.is_bf16_supported():
        pytest.skip('this GPU has no bf16')
    cfg = Config.fromfile(str(repo_root / 'configs/ssd300.py'))
    assert enable_amp(cfg, training=True, dtype=dtype) == dtype  # tools/train.py --amp
    model = build_ssd300(repo_root).cuda().train()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(wrapper, SkipSafeAmpOptimWrapper)
    assert wrapper.cast_dtype == getattr(torch, dtype)
    dtypes = []
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    data = fake_batch(repo_root, 2, with_gt=True)
    before = [p.detach().clone() for p in model.parameters()]
    # The dynamic loss scale starts at 65536: the first fp16 steps may overflow
    # and be skipped (weights unchanged) while it settles.
    for _ in range(25):
        log_vars = model.train_step(data, wrapper)
        assert torch.isfinite(log_vars['loss']) and log_vars['loss'] > 0
        if any(not torch.equal(p, b) for p, b in zip(model.parameters(), before)):
            break
    else:
        pytest.fail(f'no step in 25 changed the weights (scale {wrapper.loss_scaler.get_scale()})')
    assert dtypes[0] == getattr(torch, dtype)  # the network ran under autocast
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), name
        assert p.dtype == torch.float32, name  # master weights stay fp32


def test_step_skipped_by_the_cuda_loss_scaler_leaves_fused_sgd_weights(repo_root):
    """tests/engine/precision/test_skip_safe_amp.py on a GPU, with the real CUDA
    GradScaler and the fused CUDA SGD kernel."""
    helpers = module_at(repo_root, 'tests/engine/precision/test_skip_safe_amp.py')
    cfg = Config.fromfile(str(repo_root / 'configs/ssd300.py'))
    cfg.optim_wrapper.optimizer.fused = True  # the CUDA kernel that left junk behind
    assert enable_amp(cfg, training=True) == 'float16'
    model = helpers.small_net().cuda()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(wrapper, SkipSafeAmpOptimWrapper)
    assert wrapper.loss_scaler.is_enabled() and wrapper.loss_scaler.get_scale() == 2.0 ** 16
    helpers.check_skipped_step_then_unfused_update(cfg, model, wrapper,
                                                   torch.randn(2, 3, 8, 8, device='cuda'))


# ------------------------------------------------------- CPU and GPU agree
def no_mmcv_nms_on_cuda(monkeypatch):
    """Fails if MultiBoxHead hands CUDA boxes to mmcv's batched_nms (its per-group
    loop): on a GPU the loop-free NMS must do all the work."""
    mmcv_nms = multibox_head.batched_nms

    def checked(boxes, *args, **kwargs):
        assert not boxes.is_cuda, 'mmcv batched_nms called on CUDA boxes'
        return mmcv_nms(boxes, *args, **kwargs)
    monkeypatch.setattr(multibox_head, 'batched_nms', checked)


def assert_same_detections(gpu, cpu):
    """Per image: the same detections (label, box within 1e-2 px, score within
    1e-4), each in descending score. Matched as sets, since two scores a float32
    rounding apart may come in either order; a match is unique because NMS
    leaves no two boxes of a class that close."""
    for g, c in zip(gpu, cpu):
        g = g.cpu()
        assert len(g) == len(c) and len(c) > 0
        same = ((g.labels[:, None] == c.labels[None])
                & ((g.bboxes[:, None] - c.bboxes[None]).abs() <= 1e-2).all(-1)
                & ((g.scores[:, None] - c.scores[None]).abs() <= 1e-4))
        assert (same.sum(0) == 1).all() and (same.sum(1) == 1).all()
        assert (g.scores[:-1] >= g.scores[1:]).all()


def test_ssd300_detects_the_same_on_cpu_and_cuda(repo_root, monkeypatch):
    no_mmcv_nms_on_cuda(monkeypatch)
    cpu_model = build_ssd300(repo_root, cls_weight_scale=0.1).eval()
    gpu_model = copy.deepcopy(cpu_model).cuda()
    data = fake_batch(repo_root, 2, with_gt=False)
    with torch.no_grad():
        cpu_inputs = cpu_model.data_preprocessor(data, False)['inputs']
        gpu_inputs = gpu_model.data_preprocessor(data, False)['inputs']
        cpu_maps = cpu_model.bbox_head(cpu_model.extract_feat(cpu_inputs))
        gpu_maps = gpu_model.bbox_head(gpu_model.extract_feat(gpu_inputs))
    # The networks: float32 rounding apart.
    for c, g in zip(cpu_maps[0] + cpu_maps[1], gpu_maps[0] + gpu_maps[1]):
        torch.testing.assert_close(g.cpu(), c, rtol=1e-3, atol=1e-3 * float(c.abs().max()))

    # Decoding and NMS of the same maps: the same detections on both devices.
    metas = [s.metainfo for s in data['data_samples']]
    gpu = gpu_model.bbox_head.predict_by_feat(*gpu_maps, metas, rescale=True)
    cpu = cpu_model.bbox_head.predict_by_feat([m.cpu() for m in gpu_maps[0]],
                                              [m.cpu() for m in gpu_maps[1]], metas,
                                              rescale=True)
    assert_same_detections(gpu, cpu)
    assert all(len(c) == cpu_model.bbox_head.test_cfg.max_per_img for c in cpu)

    # End to end (each device its own network numbers): the 50 best detections
    # of each image are found on the other device. (Deeper down, a score or IoU
    # within rounding of a threshold may go either way.)
    with torch.no_grad():
        cpu = cpu_model.test_step(data)
        gpu = gpu_model.test_step(data)
    for c, g in zip(cpu, gpu):
        c, g = c.pred_instances, g.pred_instances.cpu()
        for a, b in ((c[:50], g), (g[:50], c)):
            same = ((a.labels[:, None] == b.labels[None])
                    & ((a.bboxes[:, None] - b.bboxes[None]).abs() <= 1e-2).all(-1))
            assert same.any(1).all()


def test_batch_of_64_suppresses_the_same_on_cpu_and_cuda(repo_root, monkeypatch):
    """The issue's case: 64 images of 1,000 candidates (one [64, 1000, 1000]
    matrix) from random maps, decoded on both devices."""
    no_mmcv_nms_on_cuda(monkeypatch)
    head = build_ssd300(repo_root).bbox_head.eval()
    gen = torch.Generator().manual_seed(0)
    sizes = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    cls = [torch.randn(64, c.out_channels, *s, generator=gen) * 2
           for c, s in zip(head.cls_convs, sizes)]
    reg = [torch.randn(64, c.out_channels, *s, generator=gen)
           for c, s in zip(head.reg_convs, sizes)]
    metas = [dict(img_shape=(SIZE, SIZE), scale_factor=(1.0, 1.0))] * 64
    head.test_cfg.max_per_img = 1000  # no cap: its cut could fall between rounded twins
    cpu = head.predict_by_feat(cls, reg, metas)
    gpu_head = copy.deepcopy(head).cuda()
    gpu = gpu_head.predict_by_feat([c.cuda() for c in cls], [r.cuda() for r in reg], metas)
    assert_same_detections(gpu, cpu)


# ------------------------------------------------------------ NMS on CUDA
@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('iou_threshold', [0.3, 0.45, 0.7])
def test_loop_free_nms_on_cuda_equals_mmcv_on_cuda(repo_root, seed, iou_threshold):
    nms_tests = module_at(repo_root, 'tests/models/box_head/test_loop_free_nms.py')
    counts = [0, 57, 1, 0, 120, 1, 33, 0]
    batch = [t.cuda() for t in nms_tests.random_batch(seed, counts)]
    want = nms_tests.mmcv_per_image(*batch, iou_threshold)  # mmcv's CUDA kernel
    got = loop_free_batched_nms(*batch, iou_threshold, num_images=len(counts))
    assert got.is_cuda and torch.equal(got, want)
    # the same comparison form as on CUDA (inter > thr * union), on the CPU
    cpu = loop_free_batched_nms(*[t.cpu() for t in batch], iou_threshold,
                                num_images=len(counts), divide=False)
    assert torch.equal(got.cpu(), cpu)


def test_cuda_form_of_the_comparison_on_cuda(repo_root):
    nms_tests = module_at(repo_root, 'tests/models/box_head/test_loop_free_nms.py')
    boxes = torch.tensor(nms_tests.FORMS_DIFFER, device='cuda')
    scores, zeros = torch.tensor([0.9, 0.8], device='cuda'), torch.zeros(2, dtype=torch.long,
                                                                          device='cuda')
    # By default CUDA tensors get the form of mmcv's CUDA kernel (both kept)...
    assert loop_free_batched_nms(boxes, scores, zeros, zeros, 0.45).tolist() == [0, 1]
    # ... and the CPU kernel's form on request, on the GPU too.
    assert loop_free_batched_nms(boxes, scores, zeros, zeros, 0.45, divide=True).tolist() == [0]


# ---------------------------------------------------------------- tools
def test_benchmark_infers_and_trains_on_cuda(repo_root):
    """The GPU paths of benchmark.py: CUDA autocast, channels_last, synchronised
    timing and the MFU against a given peak."""
    proc = subprocess.run(
        [sys.executable, str(repo_root / 'tools/analysis/benchmark.py'),
         str(repo_root / 'configs/ssd300.py'), '--device', 'cuda', '--parts', 'infer,train',
         '--amp', '--channels-last', '--peak-tflops', '989',
         '--iters', '1', '--warmup', '1', '--batch', '2'],
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert 'device=cuda' in proc.stdout and '(autocast: float16)' in proc.stdout
    assert 'channels_last=True' in proc.stdout
    checks = module_at(repo_root, 'tests/tools/test_benchmark.py')
    checks.check_rows(proc.stdout, ('infer', 'train'))
    checks.check_train_flops(proc.stdout, peak=989)


def test_train_tool_with_amp_trains_ssd300_on_real_images(repo_root, shared_data, tmp_path):
    """``tools/train.py --amp`` end to end on a GPU: CUDA AMP through the skip-safe
    wrapper, channels_last and sized workers by default, finite losses."""
    from conftest import run_tool, tool_env
    coco = shared_data / 'tiny_coco'
    out = run_tool(
        [sys.executable, 'tools/train.py', 'configs/ssd300.py', '--amp',
         '--work-dir', str(tmp_path), '--cfg-options',
         f'train_dataloader.dataset.data_root={coco}/',
         f'val_dataloader.dataset.data_root={coco}/',
         f'val_evaluator.ann_file={coco}/annotations/instances_val2017.json',
         'model.backbone.init_cfg=None',  # from random weights: no ImageNet file here
         'train_dataloader.batch_size=8', 'train_cfg.max_iters=12',
         'train_cfg.val_interval=1000', 'default_hooks.logger.interval=4',
         'default_hooks.checkpoint.interval=12'],
        tool_env(tmp_path), repo_root, timeout=600)
    assert '--amp: CUDA autocast to float16' in out
    assert "type='SkipSafeAmpOptimWrapper'" in out  # the config the Runner logs
    assert 'channels_last: on, the default under CUDA autocast' in out
    assert "num_workers='auto'" in out
    scalars = (next(tmp_path.glob('*/vis_data/scalars.json'))).read_text().splitlines()
    losses = [json.loads(line)['loss'] for line in scalars if '"loss"' in line]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses), losses
    assert (tmp_path / 'iter_12.pth').is_file()
