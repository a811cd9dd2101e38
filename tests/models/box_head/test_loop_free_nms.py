"""loop_free_batched_nms against mmcv's batched_nms (one call per image, the
labels as groups: what MultiBoxHead does on a CPU and MMDetection on any device).
Exact equality is required: the same kept indices in the same order."""
import mmcv
import pytest
import torch
from mmcv.ops import batched_nms
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch.overrides import TorchFunctionMode

from ssd_ext.models.box_head.loop_free_nms import loop_free_batched_nms
from ssd_ext.models.box_head.multibox_head import MultiBoxHead, is_greedy_nms
from ssd_ext.registry import MODELS


def mmcv_per_image(boxes, scores, img_idx, labels, iou_threshold, **nms_kwargs):
    """Kept indices of mmcv's batched_nms run on each image in turn."""
    kept = [img_idx.new_zeros(0)]
    for i in img_idx.unique().tolist():
        mine = (img_idx == i).nonzero().squeeze(1)
        _, keep = batched_nms(boxes[mine], scores[mine], labels[mine],
                              dict(type='nms', iou_threshold=iou_threshold, **nms_kwargs))
        kept.append(mine[keep])
    return torch.cat(kept)


def random_batch(seed, counts, num_classes=3, extent=50.0):
    """Candidates for images of ``counts`` boxes, jittered around a few objects
    in ``extent`` pixels (so overlapping at every IoU); scores without ties."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.tensor(counts)
    n = int(counts.sum())
    img_idx = torch.repeat_interleave(torch.arange(len(counts)), counts)
    xy = torch.rand(8, 2, generator=gen) * extent
    objects = torch.cat([xy, xy + torch.rand(8, 2, generator=gen) * extent * 0.5 + 1], 1)
    boxes = objects[torch.randint(0, 8, (n,), generator=gen)]
    size = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    boxes = boxes + torch.randn(n, 4, generator=gen) * size * 0.1
    scores = torch.randperm(n, generator=gen).float() / n + 0.01  # distinct
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    return boxes, scores, img_idx, labels


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('iou_threshold', [0.3, 0.45, 0.7])
def test_random_batches_equal_mmcv_per_image(seed, iou_threshold):
    # Empty images (first, middle, last) and one-box images among crowded ones.
    counts = [0, 57, 1, 0, 120, 1, 33, 0]
    boxes, scores, img_idx, labels = random_batch(seed, counts)
    want = mmcv_per_image(boxes, scores, img_idx, labels, iou_threshold)
    got = loop_free_batched_nms(boxes, scores, img_idx, labels, iou_threshold,
                                num_images=len(counts))
    assert torch.equal(got, want)
    assert len(want) < 0.8 * len(boxes)  # NMS had work to do


def test_many_classes_and_large_coordinates_equal_mmcv():
    # 80 classes: shifts up to 79 * (max + 1), where float32 rounds coordinates.
    boxes, scores, img_idx, labels = random_batch(7, [300, 0, 200], num_classes=80,
                                                  extent=600.0)
    boxes = boxes.repeat(4, 1) + torch.randn(4 * len(boxes), 4) * 3  # near-duplicates
    scores = torch.randperm(len(boxes)).float() / len(boxes)
    img_idx = torch.sort(img_idx.repeat(4)).values
    labels = labels.repeat(4)[torch.randperm(len(boxes))] % 5
    want = mmcv_per_image(boxes, scores, img_idx, labels, 0.45)
    got = loop_free_batched_nms(boxes, scores, img_idx, labels, 0.45, num_images=3)
    assert torch.equal(got, want) and len(want) < len(boxes) // 2


def test_no_candidates_and_num_images_default():
    empty = torch.zeros(0, dtype=torch.long)
    assert loop_free_batched_nms(torch.zeros(0, 4), torch.zeros(0), empty, empty,
                                 0.5).numel() == 0
    boxes, scores, img_idx, labels = random_batch(0, [5, 9])
    assert torch.equal(loop_free_batched_nms(boxes, scores, img_idx, labels, 0.5),
                       mmcv_per_image(boxes, scores, img_idx, labels, 0.5))


def test_offset_one_equals_mmcv():
    boxes, scores, img_idx, labels = random_batch(3, [40, 25])
    want = mmcv_per_image(boxes, scores, img_idx, labels, 0.45, offset=1)
    got = loop_free_batched_nms(boxes, scores, img_idx, labels, 0.45, offset=1)
    assert torch.equal(got, want)


def test_tied_scores_rank_lower_index_first():
    """Exact ties: the lower candidate index ranks first (stable sort). mmcv's
    own order among ties is its sort's; given scores that spell out our order,
    it keeps the same candidates."""
    boxes, _, img_idx, labels = random_batch(4, [60, 0, 45])
    gen = torch.Generator().manual_seed(4)
    scores = torch.randint(0, 4, (len(boxes),), generator=gen).float() / 4  # many ties
    got = loop_free_batched_nms(boxes, scores, img_idx, labels, 0.45)
    # Rank by (score descending, index ascending), as distinct scores.
    order = torch.argsort(scores, descending=True, stable=True)
    untied = torch.empty_like(scores)
    untied[order] = -torch.arange(len(scores), dtype=torch.float32)
    assert torch.equal(got, mmcv_per_image(boxes, untied, img_idx, labels, 0.45))


# ------------------------------------------------------- IoU at the threshold
def pair(first, second, label=0, iou_threshold=0.5, **kwargs):
    """Kept indices of two candidates of one image (``first`` scores higher)."""
    boxes = torch.tensor([first, second], dtype=torch.float32)
    scores, img_idx = torch.tensor([0.9, 0.8]), torch.zeros(2, dtype=torch.long)
    labels = torch.full((2,), label)
    got = loop_free_batched_nms(boxes, scores, img_idx, labels, iou_threshold, **kwargs)
    if kwargs.get('divide', True):  # mmcv's CPU kernel is the dividing form
        want = mmcv_per_image(boxes, scores, img_idx, labels, iou_threshold)
        assert torch.equal(got, want)
    return got.tolist()


@pytest.mark.parametrize('label', [0, 3])
def test_iou_equal_to_threshold_is_not_suppressed(label):
    # IoU exactly 0.5 and 9/20 (= float32(0.45) after the division): kept.
    assert pair([0, 0, 10, 10], [0, 0, 10, 20], label, 0.5) == [0, 1]
    assert pair([0, 0, 3, 3], [0, 0, 4, 5], label, 0.45) == [0, 1]
    # Just above (union 200 - 10 / 256, exact in float32): suppressed.
    assert pair([0, 0, 10, 10], [0, 0, 10, 20 - 2 ** -8], label, 0.5) == [0]
    # One float32 step below 20: the union rounds back to 200 (100 + 199.99998 is
    # 300 in float32), so the IoU is still exactly 0.5, in mmcv as here.
    below = torch.nextafter(torch.tensor(20.0), torch.tensor(0.0)).item()
    assert pair([0, 0, 10, 10], [0, 0, 10, below], label, 0.5) == [0, 1]
    # Identical boxes: IoU 1 is not above 1; touching boxes do not overlap.
    assert pair([1, 2, 5, 9], [1, 2, 5, 9], label, 1.0) == [0, 1]
    assert pair([1, 2, 5, 9], [1, 2, 5, 9], label, 0.99) == [0]
    assert pair([0, 0, 4, 4], [4, 0, 8, 4], label, 0.0) == [0, 1]
    # Zero-area boxes: 0 / 0 is no overlap.
    assert pair([3, 3, 3, 3], [3, 3, 3, 3], label, 0.0) == [0, 1]


# Found by search: IoU within a float32 rounding of 0.45, where the two forms of
# mmcv's test, inter / union > thr (CPU) and inter > thr * union (CUDA), differ.
FORMS_DIFFER = ([19.09073829650879, 16.277280807495117, 48.91751480102539, 39.93180465698242],
                [19.09073829650879, 16.277280807495117, 48.91751480102539, 68.84288787841797])
# ... and where mmcv's shift of label 1 by (max + 1) rounds the decision over.
SHIFT_DECIDES = ([40.79267883300781, 0.13692501187324524, 66.65740203857422, 2.1109068393707275],
                 [40.79267883300781, 0.13692501187324524, 66.65740203857422, 4.523553371429443])


def test_cpu_and_cuda_forms_of_the_comparison():
    assert pair(*FORMS_DIFFER, iou_threshold=0.45) == [0]  # as mmcv's CPU kernel
    assert pair(*FORMS_DIFFER, iou_threshold=0.45, divide=True) == [0]
    # The CUDA form (used for CUDA tensors), computed here on the CPU.
    assert pair(*FORMS_DIFFER, iou_threshold=0.45, divide=False) == [0, 1]


def test_coordinates_are_shifted_by_label_as_mmcv_does():
    # Unshifted (label 0) the pair is just below 0.45; shifted (label 1) above.
    assert pair(*SHIFT_DECIDES, label=0, iou_threshold=0.45) == [0, 1]
    assert pair(*SHIFT_DECIDES, label=1, iou_threshold=0.45) == [0]


def test_images_are_processed_in_chunks_alike():
    boxes, scores, img_idx, labels = random_batch(5, [30, 0, 41, 1, 17])
    whole = loop_free_batched_nms(boxes, scores, img_idx, labels, 0.45)
    # max_elements of one image's K x K matrix: one image per chunk.
    chunked = loop_free_batched_nms(boxes, scores, img_idx, labels, 0.45,
                                    max_elements=41 * 41)
    assert torch.equal(chunked, whole)


# ------------------------------------------------------------ MultiBoxHead
@pytest.fixture(scope='module')
def ssd300(repo_root):
    init_default_scope('mmdet')  # module fixtures run before conftest's autouse one
    torch.manual_seed(0)
    cfg = Config.fromfile(str(repo_root / 'configs/ssd300.py'))
    cfg.model.backbone.init_cfg = None  # seeded random weights, no ImageNet file
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def head_candidates(head, cls_scores, bbox_preds, metas):
    """The arguments ``predict_by_feat`` hands to ``_suppress``."""
    seen = []

    def spy(*args):
        seen.append(args)
        return MultiBoxHead._suppress(head, *args)
    head._suppress = spy
    try:
        head.predict_by_feat(cls_scores, bbox_preds, metas)
    finally:
        del head._suppress
    return seen[0]


def test_real_images_through_ssd300_equal_mmcv(ssd300, shared_data):
    files = sorted((shared_data / 'bccd' / 'JPEGImages').glob('*.jpg'))[:3]
    inputs = [torch.from_numpy(mmcv.imresize(mmcv.imread(str(f)), (300, 300))).permute(2, 0, 1)
              for f in files]
    metas = dict(img_shape=(300, 300), ori_shape=(300, 300), scale_factor=(1.0, 1.0),
                 pad_shape=(300, 300))
    data = ssd300.data_preprocessor(
        dict(inputs=inputs, data_samples=[DetDataSample(metainfo=metas) for _ in files]))
    head = ssd300.bbox_head
    with torch.no_grad():
        maps = head(ssd300.extract_feat(data['inputs']))
    # Every prior competes (the untrained head's scores sit near 1/81).
    head.test_cfg.score_thr = 0.0
    try:
        args = head_candidates(head, *maps, [metas] * len(files))
    finally:
        head.test_cfg.score_thr = 0.02
    boxes, scores, img_idx, labels, batch = args
    # Up to nms_pre (1,000) per image; boxes clipped to nothing are dropped.
    assert all(800 < n <= 1000 for n in torch.bincount(img_idx).tolist())
    want = mmcv_per_image(boxes, scores, img_idx, labels, 0.45)
    got = loop_free_batched_nms(boxes, scores, img_idx, labels, 0.45, num_images=batch)
    assert torch.equal(got, want) and len(want) < 0.8 * len(boxes)


def fake_maps(head, batch, gen):
    sizes = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
    cls = [torch.randn(batch, c.out_channels, *s, generator=gen) * 2
           for c, s in zip(head.cls_convs, sizes)]
    reg = [torch.randn(batch, c.out_channels, *s, generator=gen)
           for c, s in zip(head.reg_convs, sizes)]
    return cls, reg


def test_gpu_branch_of_suppress_equals_cpu_branch(ssd300, monkeypatch):
    """``_suppress_loop_free`` (what ``_suppress`` runs for CUDA tensors) on CPU
    tensors: the same dets and indices as the CPU branch, and the same detections."""
    head = ssd300.bbox_head
    cls, reg = fake_maps(head, 4, torch.Generator().manual_seed(0))
    metas = [dict(img_shape=(300, 300 - 20 * i), scale_factor=(1.0, 1.0)) for i in range(4)]
    args = head_candidates(head, cls, reg, metas)
    dets, kept = head._suppress(*args)
    loop_free_dets, loop_free_kept = head._suppress_loop_free(*args)
    assert torch.equal(loop_free_kept, kept) and torch.equal(loop_free_dets, dets)
    assert len(kept) < len(args[0])

    cpu = head.predict_by_feat(cls, reg, metas)
    monkeypatch.setattr(head, '_suppress', head._suppress_loop_free)
    gpu = head.predict_by_feat(cls, reg, metas)
    for c, g in zip(cpu, gpu):
        assert len(c) == head.test_cfg.max_per_img
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(g[key], c[key])


def test_nms_configs_the_loop_free_path_does_not_cover_go_to_mmcv():
    supports = is_greedy_nms
    assert supports(dict(type='nms', iou_threshold=0.45))
    assert supports(dict(type='nms', iou_threshold=0.45, offset=1, class_agnostic=True))
    assert not supports(dict(type='soft_nms', iou_threshold=0.45))
    assert not supports(dict(type='nms', iou_threshold=0.45, max_num=100))


def test_class_agnostic_loop_free_equals_mmcv(ssd300, monkeypatch):
    head = ssd300.bbox_head
    cls, reg = fake_maps(head, 2, torch.Generator().manual_seed(1))
    metas = [dict(img_shape=(300, 300), scale_factor=(1.0, 1.0))] * 2
    monkeypatch.setitem(head.test_cfg, 'nms',
                        dict(type='nms', iou_threshold=0.45, class_agnostic=True))
    args = head_candidates(head, cls, reg, metas)
    dets, kept = head._suppress(*args)
    assert torch.equal(head._suppress_loop_free(*args)[1], kept)


class HostSyncCounter(TorchFunctionMode):
    """Counts the tensor calls that make a GPU wait for the host: reading values
    (``item``, ``tolist``, ``bool``...), shapes that depend on values (boolean
    indexing, ``nonzero``, ``unique``...) and copies to the CPU. CPU tensors
    see the same calls, so the count is what the same code does on a GPU."""

    READS = {'item', 'tolist', 'numpy', 'cpu', '__bool__', '__int__', '__float__',
             '__index__', 'nonzero', 'argwhere', 'unique', 'unique_consecutive',
             'masked_select', 'bincount'}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', '')
        if name in self.READS or self._syncs(name, args, kwargs):
            self.count += 1
        return func(*args, **kwargs)

    @staticmethod
    def _syncs(name: str, args: tuple, kwargs: dict) -> bool:
        if name in ('__getitem__', '__setitem__', 'index_put_', 'index_put'):
            index = args[1] if isinstance(args[1], (tuple, list)) else (args[1],)
            return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
        if name == 'where':  # torch.where(condition) is nonzero
            return len(args) + len(kwargs) == 1
        if name == 'to':  # to the host
            target = args[1] if len(args) > 1 else kwargs.get('device')
            return str(target).startswith('cpu')
        return name == 'repeat_interleave' and 'output_size' not in kwargs


def host_syncs(head, cls, reg, batch: int) -> int:
    metas = [dict(img_shape=(300, 300), scale_factor=(1.0, 1.0))] * batch
    with HostSyncCounter() as counter:
        head.predict_by_feat(cls, reg, metas)
    return counter.count


def test_gpu_path_synchronises_per_batch_not_per_image(ssd300, monkeypatch):
    """The same image 1 and 16 times: decoding and the loop-free NMS (the GPU
    path) make the same number of host synchronisations."""
    head = ssd300.bbox_head
    cls, reg = fake_maps(head, 1, torch.Generator().manual_seed(2))
    cls16, reg16 = ([m.expand(16, -1, -1, -1) for m in maps] for maps in (cls, reg))
    monkeypatch.setattr(head, '_suppress', head._suppress_loop_free)
    one, sixteen = host_syncs(head, cls, reg, 1), host_syncs(head, cls16, reg16, 16)
    assert one == sixteen > 0, (one, sixteen)
    # The counter does see synchronisation per image (a nonzero per image here).
    counts = []
    for images in (1, 16):
        with HostSyncCounter() as counter:
            mmcv_per_image(*random_batch(0, [5] * images), 0.45)
        counts.append(counter.count)
    assert counts[1] > counts[0]
