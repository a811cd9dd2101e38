"""``tools/image_demo.py``, ``tools/analysis/plot_curves.py`` (on the logs of a
real 6-iteration ``tools/train.py`` run) and ``tools/analysis/browse_dataset.py``,
all on a small generated shapes dataset (200x200 images, resized to 160 by the
quickstart config)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from ssd_ext.apis import build_detector
from ssd_ext.data.synthetic_shapes import CLASSES, make_dataset
from ssd_ext.deployment import load_inputs, torch_detections
from ssd_ext.utils.images import image_files
from conftest import load_script

CONFIG = 'configs/quickstart/ssd160_shapes.py'
IMAGE_SIZE = 200


def run(repo_root: Path, *args, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=repo_root,
                          capture_output=True, text=True, timeout=timeout)


def data_options(root: Path):
    """--cfg-options pointing every dataset and evaluator of the config at ``root``."""
    opts = [f'{split}_dataloader.dataset.data_root={root}/'
            for split in ('train', 'val', 'test')]
    opts += [f'{split}_evaluator.ann_file={root}/annotations/val.json'
             for split in ('val', 'test')]
    return opts


@pytest.fixture(scope='module')
def shapes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('shapes')
    make_dataset(str(root), num_train=4, num_val=2, seed=5, image_size=IMAGE_SIZE)
    return root


@pytest.fixture(scope='module')
def random_ckpt(repo_root, tmp_path_factory) -> Path:
    """Random weights (classifier x0.3 so scores spread over (0, 1), see
    tests/ssd_testkit/onnx_fixtures.py); a bare ``{'state_dict': ...}`` file."""
    model = build_detector(Config.fromfile(str(repo_root / CONFIG)))
    torch.manual_seed(0)
    model.init_weights()
    with torch.no_grad():
        for conv in model.bbox_head.cls_convs:
            conv.weight.mul_(0.3)
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def trained(repo_root, shapes, tmp_path_factory) -> Path:
    """Work dir of a 6-iteration training run, validated at iterations 3 and 6."""
    work_dir = tmp_path_factory.mktemp('work_dir')
    proc = run(repo_root, 'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
               *data_options(shapes),
               'train_cfg.max_iters=6', 'train_cfg.val_interval=3',
               'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
               'test_dataloader.batch_size=2', 'default_hooks.logger.interval=1',
               'default_hooks.checkpoint.interval=6',
               # An almost untrained head may score nothing above the default
               # 0.02, and MultiBoxHead.predict_by_feat then fails in mmcv's
               # batched_nms on zero boxes; 0 keeps validation independent of that.
               'model.test_cfg.score_thr=0.0',
               *[f'{s}_dataloader.{k}' for s in ('train', 'val', 'test')
                 for k in ('num_workers=0', 'persistent_workers=False')],
               timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work_dir / 'iter_6.pth').is_file()
    return work_dir


# -------------------------------------------------------------------- image demo
def check_predictions(out_dir: Path, inputs, num_classes: int = len(CLASSES)):
    records = json.loads((out_dir / 'predictions.json').read_text())
    assert [Path(r['file']).name for r in records] == [Path(f).name for f in inputs]
    for rec in records:
        assert set(rec) >= {'file', 'out_file', 'boxes', 'scores', 'labels', 'label_names'}
        assert Path(rec['out_file']).is_file()
        n = len(rec['scores'])
        assert len(rec['boxes']) == len(rec['labels']) == len(rec['label_names']) == n
        if n:
            boxes = np.array(rec['boxes'])
            # Original-image pixels (the network sees 160x160).
            assert boxes.min() >= 0 and boxes.max() <= IMAGE_SIZE
            assert (boxes[:, 2:] >= boxes[:, :2]).all()
            assert all(0 <= lab < num_classes for lab in rec['labels'])
            assert rec['label_names'] == [CLASSES[lab] for lab in rec['labels']]
            assert rec['scores'] == sorted(rec['scores'], reverse=True)
    return records


def test_demo_folder(repo_root, shapes, random_ckpt, tmp_path):
    """A folder of 2 images at score threshold 0: every image gets boxes drawn,
    and the JSON holds PyTorch's detections in original-image pixels."""
    out_dir = tmp_path / 'demo'
    proc = run(repo_root, 'tools/image_demo.py', shapes / 'val', CONFIG, random_ckpt,
               '--out-dir', out_dir, '--score-thr', '0')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '2/2' in proc.stdout  # the progress bar
    assert 'classes (from the config)' in proc.stdout
    inputs = sorted((shapes / 'val').glob('*.png'))
    records = check_predictions(out_dir, inputs)
    assert sorted(p.name for p in out_dir.glob('*.png')) == [p.name for p in inputs]
    for rec, src in zip(records, inputs):
        assert len(rec['scores']) > 0
        drawn, raw = cv2.imread(rec['out_file']), cv2.imread(str(src))
        assert drawn.shape == raw.shape and (drawn != raw).any()

    # Same detections as the model's own predict (boxes rounded to 0.01 px).
    model = build_detector(Config.fromfile(str(repo_root / CONFIG)), str(random_ckpt))
    data, _ = load_inputs(model, [str(f) for f in inputs])
    for rec, ref in zip(records, torch_detections(model, data)):
        assert len(rec['scores']) == len(ref['scores'])
        np.testing.assert_allclose(rec['boxes'], ref['bboxes'], atol=0.006)
        np.testing.assert_allclose(rec['scores'], ref['scores'], atol=1e-5)
        assert rec['labels'] == ref['labels'].tolist()


def test_demo_single_image_mmengine_checkpoint(repo_root, shapes, trained, tmp_path):
    """A checkpoint written by the Runner (message hub, optimizer, meta) loads
    strictly and weights-only; class names come from its meta."""
    image = shapes / 'val' / '00001.png'
    out_dir = tmp_path / 'demo1'
    # score_thr 0 in the head: an untrained head may have no score above the
    # default 0.02 (see the report about the empty-candidate case).
    proc = run(repo_root, 'tools/image_demo.py', image, CONFIG, trained / 'iter_6.pth',
               '--out-dir', out_dir, '--score-thr', '0.5',
               '--cfg-options', 'model.test_cfg.score_thr=0.0')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'classes (from the checkpoint)' in proc.stdout
    check_predictions(out_dir, [image])
    assert (out_dir / image.name).is_file()


class NotAllowed:
    """A pickled object outside torch's weights-only allow-list."""


def load_tool(repo_root: Path, rel: str):
    return load_script(repo_root / rel)


def test_demo_errors(repo_root, shapes, random_ckpt, tmp_path):
    proc = run(repo_root, 'tools/image_demo.py', tmp_path / 'missing.jpg', CONFIG,
               random_ckpt, '--out-dir', tmp_path / 'out', timeout=120)
    assert proc.returncode != 0
    assert 'input image or folder not found' in proc.stderr
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no images'):
        image_files(str(empty))
    # A checkpoint with a pickled object outside the allow-list is refused
    # before anything is built.
    demo = load_tool(repo_root, 'tools/image_demo.py')
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'extra': NotAllowed()}, evil)
    with pytest.raises(RuntimeError, match='not a weights-only checkpoint'):
        demo.checkpoint_meta(str(evil))
    assert demo.checkpoint_meta(str(random_ckpt)) == {}
    # Weights of another model are an error naming the keys, not a warning
    # before drawing a partly random network's boxes.
    state = torch.load(random_ckpt, weights_only=True)['state_dict']
    state['bbox_head.extra.weight'] = state.pop('bbox_head.cls_convs.0.weight')
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': state}, other)
    proc = run(repo_root, 'tools/image_demo.py', shapes / 'val', CONFIG, other,
               '--out-dir', tmp_path / 'out', timeout=300)
    assert proc.returncode != 0 and not (tmp_path / 'out' / 'predictions.json').exists()
    assert 'bbox_head.cls_convs.0.weight' in proc.stderr, proc.stderr[-3000:]
    assert 'bbox_head.extra.weight' in proc.stderr


# ------------------------------------------------------------------ plot curves
def test_plot_curves(repo_root, trained, tmp_path):
    out = tmp_path / 'curves.png'
    proc = run(repo_root, 'tools/analysis/plot_curves.py', trained, '--keys', 'loss',
               'loss_cls', 'loss_bbox', 'coco/bbox_mAP', 'coco/bbox_mAP_50', '--out', out,
               timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {line.split(':')[0].strip(): line for line in proc.stdout.splitlines()}
    for key in ('loss', 'loss_cls', 'loss_bbox'):
        assert f'{key} [train]: 6 points, iterations 1-6' in lines[f'{key} [train]']
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        # Validated after iterations 3 and 6 (logged by MMEngine with step 0).
        assert f'{key} [val]: 2 points, iterations 3-6' in lines[f'{key} [val]']
    data = out.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 300
    assert img.std() > 10  # not a blank canvas


def test_plot_curves_picks_the_logged_keys(repo_root, trained, tmp_path):
    proc = run(repo_root, 'tools/analysis/plot_curves.py', trained, '--out',
               tmp_path / 'default.png', timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    picked = [line.split(' [')[0].strip() for line in proc.stdout.splitlines()
              if ' points, ' in line]
    assert picked == ['loss', 'loss_cls', 'loss_bbox', 'coco/bbox_mAP', 'coco/bbox_mAP_50']


def test_plot_curves_errors(repo_root, tmp_path):
    proc = run(repo_root, 'tools/analysis/plot_curves.py', tmp_path, timeout=120)
    assert proc.returncode != 0 and 'scalars.json' in proc.stderr
    run_dir = tmp_path / '20250101_000000' / 'vis_data'
    run_dir.mkdir(parents=True)
    (run_dir / 'scalars.json').write_text('{"loss": 1.0, "iter": 1, "step": 1}\n{"lo')
    proc = run(repo_root, 'tools/analysis/plot_curves.py', tmp_path, '--keys', 'nope',
               '--out', tmp_path / 'x.png', timeout=120)
    assert proc.returncode != 0 and "available: ['loss']" in proc.stderr
    assert 'skipping unreadable line 2' in proc.stderr  # a run killed mid-write


# --------------------------------------------------------------- browse dataset
def test_browse_dataset(repo_root, shapes, tmp_path):
    out_dir = tmp_path / 'browse'
    proc = run(repo_root, 'tools/analysis/browse_dataset.py', CONFIG, '--output-dir', out_dir,
               '--num', 3, '--cfg-options', f'train_dataloader.dataset.data_root={shapes}/',
               timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    written = sorted(out_dir.glob('*.png'))
    assert len(written) == 3
    coco = json.loads((shapes / 'annotations' / 'train.json').read_text())
    names = {img['id']: img['file_name'] for img in coco['images']}
    for i, path in enumerate(written):
        drawn = cv2.imread(str(path))
        assert drawn.shape == (160, 160, 3)  # the train pipeline's size
        name = path.name.split('_', 1)[1]
        assert name in names.values()
        raw = cv2.resize(cv2.imread(str(shapes / 'train' / name)), (160, 160),
                         interpolation=cv2.INTER_LINEAR)
        # Away from the drawn boxes the image is the augmented input (maybe
        # flipped), in the right channel order; the boxes change some pixels.
        same = max((drawn == raw).all(-1).mean(), (drawn == raw[:, ::-1]).all(-1).mean())
        assert 0.5 < same < 1.0, (path, same)
        assert (drawn == raw[..., ::-1]).all(-1).mean() < 0.5
