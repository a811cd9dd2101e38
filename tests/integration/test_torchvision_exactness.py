"""torchvision's own SSD300 against ssd_ext's run through
``configs/zoo/ssd300_coco_torchvision.py``, with the same random weights in
torchvision's released layout, on real COCO images.

Both see the same 300x300 pixels (the config's test pipeline resizes; the
resize itself is the one place the two differ, see the config). torchvision's
detections of its 10 unused COCO ids have no dataset class; the rest, mapped to
the dataset's class indices, must be ssd_ext's best detections: same labels,
scores within 1e-4 relative, boxes within 1e-3 px + 1e-4 relative.
"""
import pytest
import torch
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.dataset import Compose

from ssd_ext.models.weight_conversion import torchvision_ssd_to_ssd_ext
from ssd_ext.models.weight_conversion.torchvision_ssd import COCO_CLASS_IDS

# torchvision is on no path (see ssd_testkit/torchvision_reference.py): the
# fixture below makes it visible to this module's tests only.
import ssd_testkit.torchvision_reference as reference
from ssd_testkit.detections import assert_same_detections

CONFIG = REPO_ROOT / 'configs' / 'zoo' / 'ssd300_coco_torchvision.py'
# Random VGG weights saturate the softmax (scores tie at 1.0); scaled down,
# class scores spread above the 0.01 threshold (about 0.03 to 0.07), so the
# per-class top-k, NMS and the cap of 200 all have work to do.
CLS_WEIGHT_SCALE = 0.1
NUM_IMAGES = 3


@pytest.fixture(scope='module')
def torchvision():
    reason = reference.missing_reason()
    if reason:
        pytest.skip(reason)
    with reference.torchvision_visible() as module:
        yield module


def build_pair(torchvision):
    from mmdet.registry import MODELS
    torch.manual_seed(0)
    ref = reference.torchvision_ssd300(torchvision)
    with torch.no_grad():
        for conv in ref.head.classification_head.module_list:
            conv.weight.mul_(CLS_WEIGHT_SCALE)
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.init_cfg = None
    ours = MODELS.build(cfg.model).eval()
    ours.load_state_dict(torchvision_ssd_to_ssd_ext(ref.state_dict()), strict=True)
    return ref, ours, cfg


def matched(ref_det, ours, img_meta):
    """torchvision's detections (mapped to dataset classes, in the original
    image) and ssd_ext's, both by decreasing score."""
    keep = torch.tensor([int(label) in COCO_CLASS_IDS for label in ref_det['labels']],
                        dtype=torch.bool)
    labels = torch.tensor([COCO_CLASS_IDS.index(int(v)) for v in ref_det['labels'][keep]],
                          dtype=torch.long)
    scale = torch.tensor(img_meta['scale_factor'], dtype=torch.float32).repeat(2)
    return (ref_det['boxes'][keep] / scale, ref_det['scores'][keep], labels), ours


def test_converted_torchvision_ssd300_finds_torchvision_detections(torchvision, shared_data):
    images = sorted((shared_data / 'tiny_coco' / 'val2017').glob('*.jpg'))[:NUM_IMAGES]
    ref, ours, cfg = build_pair(torchvision)
    pipeline = Compose([t for t in cfg.test_pipeline if t['type'] != 'LoadAnnotations'])
    total = 0
    for path in images:
        data = pipeline(dict(img_path=str(path), img_id=0))
        batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
        with torch.no_grad():
            result = ours.test_step(batch)[0].pred_instances
            rgb = data['inputs'][[2, 1, 0]].float() / 255  # the pipeline's pixels, BGR -> RGB
            ref_det = ref([rgb])[0]
        (boxes, scores, labels), _ = matched(ref_det, result, data['data_samples'].metainfo)
        n = len(scores)
        assert n > 20, f'{path.name}: too few detections ({n}) to compare'
        assert len(ref_det['scores']) == 200  # torchvision's cap was reached
        n = assert_same_detections(result, boxes, scores, labels, path.name)
        total += n
    assert total > 3 * 20


@pytest.mark.parametrize('bad', ['backbone.scale_weight', 'head.regression_head.module_list.5.bias'])
def test_conversion_refuses_a_file_missing_a_key(torchvision, bad):
    state = reference.torchvision_ssd300(torchvision).state_dict()
    del state[bad]
    with pytest.raises(KeyError, match=bad.replace('.', r'\.')):
        torchvision_ssd_to_ssd_ext(state)


def test_config_priors_are_torchvisions_default_boxes(torchvision):
    """Its clip=True caps widths and heights in (cx, cy, w, h): the wide priors
    of the 3x3 and 1x1 levels stay centred and overhang the image."""
    from mmdet.registry import TASK_UTILS
    detection = torchvision.models.detection
    image_list = detection.image_list.ImageList(torch.zeros(1, 3, 300, 300), [(300, 300)])
    sizes = [38, 19, 10, 5, 3, 1]
    ref = reference.torchvision_ssd300(torchvision).anchor_generator(
        image_list, [torch.zeros(1, 1, s, s) for s in sizes])[0]
    gen = Config.fromfile(str(CONFIG)).model.bbox_head.prior_generator
    ours = TASK_UTILS.build(gen).grid_priors([(s, s) for s in sizes])
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4)
    assert (ours[:, 0] < 0).any()  # overhanging, not clipped to the image
