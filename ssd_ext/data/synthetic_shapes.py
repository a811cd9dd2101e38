"""A small detection dataset the project draws itself, in COCO format.

It is the first-run default: a fresh machine has no COCO and no network, yet the
whole path (train, evaluate, draw detections) must run. Images show filled
circles, squares and triangles of random colour and size on textured
backgrounds, with exact boxes. Generation is deterministic for a given seed.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from ssd_ext.structures.box_iou import box_iou

CLASSES = ('circle', 'square', 'triangle')


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth colour gradient plus noise, so shapes are not on a flat field."""
    corners = rng.uniform(0, 255, (2, 2, 3)).astype(np.float32)
    img = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
    img += rng.normal(0, 12, img.shape).astype(np.float32)
    return img


def _draw_shape(img: np.ndarray, rng: np.random.Generator, label: int,
                box: Tuple[int, int, int, int]) -> Tuple[float, float, float, float]:
    """Draws one shape filling ``box``; returns its exact (x, y, w, h)."""
    x1, y1, x2, y2 = box
    color = tuple(float(c) for c in rng.uniform(0, 255, 3))
    if CLASSES[label] == 'circle':
        center = ((x1 + x2) // 2, (y1 + y2) // 2)
        radius = (x2 - x1) // 2
        cv2.circle(img, center, radius, color, -1, lineType=cv2.LINE_AA)
        return (center[0] - radius, center[1] - radius, 2 * radius + 1, 2 * radius + 1)
    if CLASSES[label] == 'square':
        cv2.rectangle(img, (x1, y1), (x2, y2), color, -1)
        return (x1, y1, x2 - x1 + 1, y2 - y1 + 1)
    pts = np.array([[(x1 + x2) // 2, y1], [x1, y2], [x2, y2]], np.int32)
    cv2.fillPoly(img, [pts], color, lineType=cv2.LINE_AA)
    return (x1, y1, x2 - x1 + 1, y2 - y1 + 1)


def _overlaps(box: Tuple[int, int, int, int], boxes: List[Tuple[int, int, int, int]],
              max_iou: float = 0.1) -> bool:
    """Whether ``box`` has an IoU above ``max_iou`` with any of ``boxes``
    (integer corners, exact in float64)."""
    if not boxes:
        return False
    ious = box_iou(np.array([box], np.float64), np.array(boxes, np.float64))  # [1, N]
    return bool((ious > max_iou).any())


def make_split(out_dir: str, split: str, num_images: int, seed: int,
               image_size: int = 256, max_objects: int = 4) -> str:
    """Writes ``out_dir/<split>/*.png`` and ``out_dir/annotations/<split>.json``.

    Returns the annotation file path.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(out_dir, split), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    images: List[Dict] = []
    annotations: List[Dict] = []
    for image_id in range(1, num_images + 1):
        img = _background(rng, image_size)
        boxes: List[Tuple[int, int, int, int]] = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _attempt in range(20):
                side = int(rng.integers(image_size // 8, image_size // 2))
                x1 = int(rng.integers(0, image_size - side))
                y1 = int(rng.integers(0, image_size - side))
                box = (x1, y1, x1 + side, y1 + side)
                if not _overlaps(box, boxes):
                    boxes.append(box)
                    break
        for box in boxes:
            label = int(rng.integers(len(CLASSES)))
            x, y, w, h = _draw_shape(img, rng, label, box)
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=label + 1,
                                    bbox=[float(x), float(y), float(w), float(h)],
                                    area=float(w * h), iscrowd=0))
        file_name = f'{image_id:05d}.png'
        cv2.imwrite(osp.join(out_dir, split, file_name),
                    np.clip(img, 0, 255).astype(np.uint8))
        images.append(dict(id=image_id, file_name=file_name, width=image_size,
                           height=image_size))
    ann_file = osp.join(out_dir, 'annotations', f'{split}.json')
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories), f)
    return ann_file


def make_dataset(out_dir: str, num_train: int = 400, num_val: int = 50,
                 seed: int = 0, image_size: int = 256) -> None:
    """Train and val splits with different seeds (no image in both)."""
    make_split(out_dir, 'train', num_train, seed, image_size)
    make_split(out_dir, 'val', num_val, seed + 1, image_size)
