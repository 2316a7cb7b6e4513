# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write the embedded "shapes" detection dataset in COCO format.

Coloured circles, squares, triangles and stars of varied size, position,
rotation and overlap on textured backgrounds (gradients, noise, stripes and
blobs). Seeded and deterministic: the same arguments write the same files.
Some images have no object, as real data does.

Layout (what ``configs/det/*shapes*.py`` read)::

    data/shapes/
        train/000000.jpg ...        val/000000.jpg ...
        annotations/instances_train.json
        annotations/instances_val.json
        meta.json                   # the arguments that wrote the data

Usage::

    mmlcnetv2 make-shapes                   # data/shapes, skip if present
    mmlcnetv2 make-shapes --force           # regenerate
    mmlcnetv2 make-shapes --out /tmp/s --num-train 8 --num-val 4

``python tools/data/make_shapes.py`` (in a checkout) takes the same
arguments.

Rerunnable: the data is written to a temporary sibling directory and renamed
into place only when complete, so an interrupted run leaves no half-written
dataset; an existing dataset written with the same arguments is kept.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import shapes_common

CLASSES: Tuple[str, ...] = shapes_common.SHAPES
# Bumped whenever what is written changes (here or in shapes_common.py),
# so stale data is regenerated.
FORMAT_VERSION = 1
# meta.json's signature: what this generator replaces (and nothing else).
GENERATOR = 'mmlcnetv2 tools/data/make_shapes.py'
# An object may overlap the union of earlier boxes by at most this IoU, so
# most of every object stays visible (its box is the full shape's extent).
MAX_IOU = 0.3
EMPTY_IMAGE_PROB = 0.05
# Circumradius as a fraction of the image side: diameters of 10%..44%.
RADIUS = (0.05, 0.22)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [x1, y1, x2, y2] boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) -
             inter)
    return inter / union if union > 0 else 0.0


def _contrasting_color(rng: np.random.Generator, img: np.ndarray,
                       box: Sequence[float]) -> Tuple[int, int, int]:
    """A random colour that differs from the background under ``box``."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    patch = img[max(y1, 0):max(y2, 1), max(x1, 0):max(x2, 1)]
    mean = patch.reshape(-1, 3).mean(0) if patch.size else np.full(3, 128.)
    for _ in range(20):
        color = rng.integers(0, 256, 3)
        if np.abs(color - mean).sum() > 150:
            break
    return tuple(int(c) for c in color)


def draw_image(rng: np.random.Generator, size: int, max_objects: int
               ) -> Tuple[np.ndarray, List[Dict]]:
    """One image and its objects (``cls``, ``bbox`` xyxy, ``polygon``)."""
    img = shapes_common.background(rng, size)
    objects: List[Dict] = []
    n = 0 if rng.random() < EMPTY_IMAGE_PROB else rng.integers(1, max_objects
                                                               + 1)
    for _ in range(n):
        for _attempt in range(30):
            shape = shapes_common.random_shape(rng, size, RADIUS)
            x1, y1, x2, y2 = shape.box()
            box = [max(0.0, x1), max(0.0, y1), min(float(size), x2),
                   min(float(size), y2)]
            if box[2] - box[0] < 8 or box[3] - box[1] < 8:
                continue
            if all(_iou(box, o['bbox']) <= MAX_IOU for o in objects):
                break
        else:
            continue
        shape.fill(img, _contrasting_color(rng, img, box))
        objects.append(dict(cls=shape.kind, bbox=box,
                            polygon=np.clip(shape.outline(), 0, size)))
    return img, objects


def _coco_json(images: List[Dict], annotations: List[Dict]) -> Dict:
    return dict(
        info=dict(description='mmlcnetv2 shapes (tools/data/make_shapes.py)',
                  version=str(FORMAT_VERSION)),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])


def write_split(root: str, split: str, num: int, size: int, seed: int,
                max_objects: int) -> None:
    """Write ``root/split/*.jpg`` and ``root/annotations/instances_split.json``.

    Every image has its own generator seeded by (seed, split, index), so a
    split does not change when another split's size does.
    """
    os.makedirs(osp.join(root, split), exist_ok=True)
    split_key = {'train': 0, 'val': 1}[split]
    images, annotations = [], []
    for idx in range(num):
        rng = np.random.default_rng([seed, split_key, idx])
        img, objects = draw_image(rng, size, max_objects)
        file_name = f'{idx:06d}.jpg'
        ok = cv2.imwrite(osp.join(root, split, file_name), img,
                         [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise OSError(f'could not write {osp.join(root, split, file_name)}')
        images.append(dict(id=idx + 1, file_name=file_name, width=size,
                           height=size))
        for obj in objects:
            x1, y1, x2, y2 = obj['bbox']
            annotations.append(
                dict(id=len(annotations) + 1,
                     image_id=idx + 1,
                     category_id=CLASSES.index(obj['cls']) + 1,
                     bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2),
                           round(y2 - y1, 2)],
                     area=round((x2 - x1) * (y2 - y1), 2),
                     segmentation=[[round(float(v), 2)
                                    for v in obj['polygon'].reshape(-1)]],
                     iscrowd=0))
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}.json'),
              'w') as f:
        json.dump(_coco_json(images, annotations), f)


def make_shapes(out: str = 'data/shapes',
                num_train: int = 800,
                num_val: int = 100,
                img_size: int = 256,
                max_objects: int = 5,
                seed: int = 0,
                force: bool = False) -> bool:
    """Write the dataset to ``out`` unless the same one is there.

    Args:
        out: Dataset directory.
        num_train: Number of training images.
        num_val: Number of validation images.
        img_size: Side of the square images, in pixels.
        max_objects: At most this many objects per image.
        seed: Seed of the generator.
        force: Regenerate even if an identical dataset is present.

    Returns:
        bool: True if it wrote the data, False if it kept the existing data.

    Example:
        >>> make_shapes('/tmp/shapes', num_train=4, num_val=2)
        True
    """
    return shapes_common.write_dataset(
        out, GENERATOR, write_split, FORMAT_VERSION, CLASSES, num_train,
        num_val, img_size, max_objects, seed, force, min_img_size=64)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line (``mmlcnetv2 make-shapes``); returns the exit
    status."""
    return shapes_common.main(
        argv, make_shapes, 'Write the shapes detection dataset (COCO format).',
        'shapes', CLASSES, out='data/shapes', num_train=800, num_val=100,
        img_size=256)

