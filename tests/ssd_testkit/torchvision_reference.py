"""torchvision's SSD300 VGG16 as a reference on this CPU, visible to nothing else.

torchvision is not installed in the project's venv on purpose: the package
index's wheels are CUDA builds whose C++ ops do not load beside the CPU torch,
so ``import torchvision`` fails (``operator torchvision::nms does not exist``)
with a RuntimeError, and MMEngine's ``collect_env``, which every Runner calls,
catches only ModuleNotFoundError. ``tools/bootstrap.sh`` installs it, without
dependencies, into ``.venv/torchvision-reference`` (:data:`REFERENCE_DIR`), a
folder on no path.

:func:`torchvision_visible` is the only way in: inside it, that folder is on
``sys.path`` and torchvision imports, its ``nms`` served by :func:`greedy_nms`
(the schema of ``torchvision::nms`` and ``qnms``, both registered at import, is
defined before the import; its SSD needs no other op); on leaving, the folder
and every ``torchvision`` module are removed again, so ``import torchvision``
elsewhere in the process raises ModuleNotFoundError as before. A later entry
puts the same modules back (a second import would register its fake ops twice).
"""
import importlib
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

REFERENCE_DIR = Path(sys.prefix) / 'torchvision-reference'
_LIB = None
_MODULES = {}  # the torchvision modules of the first import, kept between entries


def greedy_nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """LongTensor[K] of the kept boxes [N, 4] (x1, y1, x2, y2), by decreasing
    score; the C++ kernel's rule: sort by score, keep a box unless it overlaps
    a kept box by IoU > threshold."""
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    over = inter / (areas[:, None] + areas[None, :] - inter) > iou_threshold
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    for i in range(len(boxes)):
        if not suppressed[i]:
            suppressed |= over[i] & (torch.arange(len(boxes)) > i)
    return order[~suppressed]


def missing_reason() -> str:
    """Why the reference cannot run here ('' when it can)."""
    if not (REFERENCE_DIR / 'torchvision' / '__init__.py').is_file():
        return (f'torchvision reference not installed at {REFERENCE_DIR} (tools/bootstrap.sh '
                'installs torchvision==0.28.0 there when online; offline it is absent)')
    return ''


def _torchvision_modules():
    return [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]


def _first_import():
    """Imports torchvision from :data:`REFERENCE_DIR` with ``nms`` defined."""
    global _LIB
    try:
        importlib.import_module('torchvision')
        return
    except RuntimeError as error:
        if 'torchvision::nms does not exist' not in str(error):
            raise
    for name in _torchvision_modules():
        del sys.modules[name]  # the failed import left partial modules
    if _LIB is None:
        _LIB = torch.library.Library('torchvision', 'DEF')
        _LIB.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        _LIB.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        _LIB.impl('nms', greedy_nms, 'CPU')
    importlib.import_module('torchvision')
    boxes_module = importlib.import_module('torchvision.ops.boxes')
    boxes_module._assert_has_ops = lambda: None  # nms's guard for the C++ ops


@contextmanager
def torchvision_visible():
    """torchvision importable inside the block, absent again after it."""
    reason = missing_reason()
    if reason:
        raise ModuleNotFoundError(reason)
    sys.path.insert(0, str(REFERENCE_DIR))
    try:
        if _MODULES:
            sys.modules.update(_MODULES)
        else:
            _first_import()
            _MODULES.update({m: sys.modules[m] for m in _torchvision_modules()})
        yield sys.modules['torchvision']
    finally:
        sys.path.remove(str(REFERENCE_DIR))
        for name in _torchvision_modules():
            del sys.modules[name]
        importlib.invalidate_caches()


def torchvision_ssd300(torchvision, num_classes: int = 91, **kwargs):
    """torchvision's own ``ssd300_vgg16`` (no weights downloaded), in eval mode;
    ``torchvision`` is the module :func:`torchvision_visible` gives."""
    model = torchvision.models.detection.ssd300_vgg16(
        weights=None, weights_backbone=None, num_classes=num_classes, **kwargs)
    return model.eval()
