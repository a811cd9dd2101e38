"""MMDetection 3.3.0's own SSD300 and SSD512 against ssd_ext run through
``configs/zoo/ssd{300,512}_coco_mmdet.py``, on real COCO images.

MMDetection's model gets random weights (class convs scaled so that scores
spread above the threshold and NMS, ``nms_pre`` per level and the cap of 200
have work to do), saved as MMDetection releases them (``{'state_dict',
'meta'}``, named with a hash prefix) and in the pre-v2.14 layout (written here;
MMDetection's own ``upgrade_ssd_version.py`` must turn it back into the
released one). Both files go through ``tools/model_converters/mmdet_to_ssd_ext.py``
and must convert to the same tensors; the zoo config's ``StrictPretrained``
loads the result. Each model runs its own test pipeline on the same images;
the detections (boxes in the original image, scores, labels) must be equal
(``ssd_testkit/detections.py``). SSD512 passes only with the zoo config's integer prior sizes.
"""
import re
import subprocess
import sys
from pathlib import Path

import mmdet
import pytest
import torch
from conftest import REPO_ROOT, load_script
from mmengine.config import Config
from mmengine.dataset import Compose

from ssd_ext.utils.checkpoint_io import safe_load
from ssd_testkit import vgg16_files
from ssd_testkit.detections import assert_same_detections

mmdet_reference = load_script(REPO_ROOT / 'tools' / 'analysis' / 'mmdet_reference.py')
CONFIGS = {300: REPO_ROOT / 'configs' / 'zoo' / 'ssd300_coco_mmdet.py',
           512: REPO_ROOT / 'configs' / 'zoo' / 'ssd512_coco_mmdet.py'}
RELEASED = {300: 'ssd300_coco_20210803_015428', 512: 'ssd512_coco_20210803_022849'}
LEGACY = {300: 'ssd300_coco_20200307', 512: 'ssd512_coco_20200308'}
TOOL = REPO_ROOT / 'tools' / 'model_converters' / 'mmdet_to_ssd_ext.py'
CLS_WEIGHT_SCALE = 0.1
# The config text MMDetection keeps in a checkpoint's meta; its upgrade script
# checks that it is an SSD (after a '#' it prepends to the text's first line).
LEGACY_CONFIG = "\nmodel = dict(bbox_head=dict(type='SSDHead'))\n"
NUM_IMAGES = 2


def legacy_layout(state):
    """A v2.14+ MMDetection SSD state dict in the pre-v2.14 key names (the
    inverse of MMDetection's ``upgrade_ssd_version.py``): ``neck.extra_layers.L.C
    .conv`` -> ``backbone.extra.{2L+C}``, ``neck.l2_norm`` -> ``backbone.l2_norm``,
    ``bbox_head.{cls,reg}_convs.I.0`` -> ``bbox_head.{cls,reg}_convs.I``."""
    out = {}
    for key, value in state.items():
        match = re.fullmatch(r'neck\.extra_layers\.(\d+)\.([01])\.conv\.(\w+)', key)
        if match:
            key = f'backbone.extra.{2 * int(match[1]) + int(match[2])}.{match[3]}'
        key = key.replace('neck.l2_norm.', 'backbone.l2_norm.')
        key = re.sub(r'^(bbox_head\.(?:cls|reg)_convs\.\d+)\.0\.', r'\1.', key)
        out[key] = value
    return out


def convert(src: Path, dst: Path) -> str:
    proc = subprocess.run([sys.executable, str(TOOL), str(src), str(dst)], cwd=src.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f'{TOOL.name} failed:\n{proc.stdout}\n{proc.stderr}'
    return proc.stdout


@pytest.fixture(scope='module', params=[300, 512])
def pair(request, tmp_path_factory):
    """(size, MMDetection's model, its config, ssd_ext's model, its config)."""
    from mmdet.registry import MODELS
    size, tmp = request.param, tmp_path_factory.mktemp(f'mmdet{request.param}')
    torch.manual_seed(size)
    ref = mmdet_reference.build_mmdet_ssd(size).eval()
    with torch.no_grad():
        for conv in ref.bbox_head.cls_convs:
            conv[0].weight.mul_(CLS_WEIGHT_SCALE)
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    released = vgg16_files.save_hub_named({'state_dict': state, 'meta': {}}, tmp, RELEASED[size])
    legacy = vgg16_files.save_hub_named({'state_dict': legacy_layout(state),
                                         'meta': {'config': LEGACY_CONFIG}},
                                        tmp, LEGACY[size])
    upgrade = load_script(Path(mmdet.__file__).parent / '.mim' / 'tools' / 'model_converters'
                          / 'upgrade_ssd_version.py')
    upgrade.convert(str(legacy), str(tmp / 'upgraded.pth'))
    upgraded = torch.load(tmp / 'upgraded.pth', weights_only=True)['state_dict']
    assert list(upgraded) == list(state)  # MMDetection's upgrade undoes legacy_layout
    out = convert(released, tmp / 'released.pth')
    assert 'matches the hash prefix in its file name' in out and 'MMDetection >= 2.14' in out
    out = convert(legacy, tmp / 'legacy.pth')
    assert 'layout: MMDetection < 2.14' in out
    converted = safe_load(tmp / 'released.pth')['state_dict']
    from_legacy = safe_load(tmp / 'legacy.pth')['state_dict']
    assert list(converted) == list(from_legacy)
    assert all(torch.equal(converted[k], from_legacy[k]) for k in converted)

    cfg = Config.fromfile(str(CONFIGS[size]))
    cfg.model.init_cfg.checkpoint = str(tmp / 'released.pth')  # checked by its .sha256
    ours = MODELS.build(cfg.model)
    ours.init_weights()
    return size, ref, mmdet_reference.mmdet_ssd_config(size), ours.eval(), cfg


def test_config_priors_are_mmdetections(pair):
    size, ref, _, ours, _ = pair
    sizes = [(s, s) for s in {300: [38, 19, 10, 5, 3, 1], 512: [64, 32, 16, 8, 4, 2, 1]}[size]]
    want = torch.cat(ref.bbox_head.prior_generator.grid_priors(sizes, device='cpu'))
    got = ours.bbox_head.prior_generator.grid_priors(sizes)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)


def test_converted_model_finds_mmdetections_detections(pair, shared_data):
    size, ref, ref_cfg, ours, cfg = pair
    images = sorted((shared_data / 'tiny_coco' / 'val2017').glob('*.jpg'))[:NUM_IMAGES]
    if len(images) < NUM_IMAGES:
        pytest.skip(f'{shared_data / "tiny_coco" / "val2017"}: fewer than {NUM_IMAGES} images')
    pipelines = [Compose([t for t in c.test_pipeline if t['type'] != 'LoadAnnotations'])
                 for c in (ref_cfg, cfg)]
    total = 0
    for path in images:
        ref_data, data = (p(dict(img_path=str(path), img_id=0)) for p in pipelines)
        assert torch.equal(ref_data['inputs'], data['inputs']), path.name
        with torch.no_grad():
            want = ref.test_step(dict(inputs=[ref_data['inputs']],
                                      data_samples=[ref_data['data_samples']]))[0]
            got = ours.test_step(dict(inputs=[data['inputs']],
                                      data_samples=[data['data_samples']]))[0]
        want = want.pred_instances
        assert len(want) > 20, f'{path.name}: too few detections ({len(want)}) to compare'
        total += assert_same_detections(got.pred_instances, want.bboxes, want.scores,
                                        want.labels, f'SSD{size} {path.name}')
    assert total > NUM_IMAGES * 20
