#!/usr/bin/env python
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

    python tools/data/make_shapes.py                   # data/shapes, skip if present
    python tools/data/make_shapes.py --force           # regenerate
    python tools/data/make_shapes.py --out /tmp/s --num-train 8 --num-val 4

Rerunnable: the data is written to a temporary sibling directory and renamed
into place only when complete, so an interrupted run leaves no half-written
dataset; an existing dataset written with the same arguments is kept.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmlcnetv2.utils.atomic import write_dir_once

CLASSES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star')
# Bumped whenever the drawing changes, so stale data is regenerated.
FORMAT_VERSION = 1
# An object may overlap the union of earlier boxes by at most this IoU, so
# most of every object stays visible (its box is the full shape's extent).
MAX_IOU = 0.3
EMPTY_IMAGE_PROB = 0.05


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured BGR background: gradient + stripes/blobs + noise."""
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    kind = rng.integers(3)
    if kind == 0:  # stripes
        period = rng.uniform(6, 30)
        phase = rng.uniform(0, 2 * math.pi)
        a = rng.uniform(0, math.pi)
        s = np.sin((np.cos(a) * xx + np.sin(a) * yy) * size / period * 2 *
                   math.pi + phase)
        img += (s * rng.uniform(8, 25))[..., None]
    elif kind == 1:  # soft blobs
        for _ in range(rng.integers(3, 9)):
            cx, cy = rng.uniform(0, 1, 2)
            r = rng.uniform(0.05, 0.3)
            blob = np.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * r * r))
            img += blob[..., None] * rng.uniform(-40, 40, 3)[None, None]
    # kind == 2: gradient only, plus the noise below
    img += rng.normal(0, rng.uniform(3, 12), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(cls: str, cx: float, cy: float, r: float,
             rot: float) -> Optional[np.ndarray]:
    """The outline of a shape of circumradius ``r``; None for a circle."""
    if cls == 'circle':
        return None
    if cls == 'square':
        angles = rot + np.arange(4) * math.pi / 2 + math.pi / 4
        radii = np.full(4, r)
    elif cls == 'triangle':
        angles = rot + np.arange(3) * 2 * math.pi / 3
        radii = np.full(3, r)
    elif cls == 'star':
        angles = rot + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    else:
        raise ValueError(f'unknown shape class {cls!r}; known: {CLASSES}')
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)],
                    axis=1)


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
    img = _background(rng, size)
    objects: List[Dict] = []
    n = 0 if rng.random() < EMPTY_IMAGE_PROB else rng.integers(1, max_objects
                                                               + 1)
    for _ in range(n):
        for _attempt in range(30):
            cls = CLASSES[rng.integers(len(CLASSES))]
            r = size * rng.uniform(0.05, 0.22)  # 10%..44% of the side
            # Mostly inside; a shape may be cut by the border a little.
            cx, cy = rng.uniform(r * 0.6, size - r * 0.6, 2)
            rot = rng.uniform(0, 2 * math.pi)
            poly = _polygon(cls, cx, cy, r, rot)
            pts = (np.array([[cx - r, cy - r], [cx + r, cy + r]])
                   if poly is None else poly)
            box = [
                max(0.0, float(pts[:, 0].min())),
                max(0.0, float(pts[:, 1].min())),
                min(float(size), float(pts[:, 0].max())),
                min(float(size), float(pts[:, 1].max()))
            ]
            if box[2] - box[0] < 8 or box[3] - box[1] < 8:
                continue
            if all(_iou(box, o['bbox']) <= MAX_IOU for o in objects):
                break
        else:
            continue
        color = _contrasting_color(rng, img, box)
        if poly is None:
            cv2.circle(img, (int(round(cx * 16)), int(round(cy * 16))),
                       int(round(r * 16)), color, -1, cv2.LINE_AA, shift=4)
            angles = np.linspace(0, 2 * math.pi, 24, endpoint=False)
            poly = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)],
                            axis=1)
        else:
            cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], color,
                         cv2.LINE_AA, shift=4)
        poly = np.clip(poly, 0, size)
        objects.append(dict(cls=cls, bbox=box, polygon=poly))
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
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1),
                             ('img_size', img_size, 64),
                             ('max_objects', max_objects, 1)):
        if value < low:
            raise ValueError(f'{name} must be >= {low}, got {value}')
    meta = dict(format_version=FORMAT_VERSION, classes=list(CLASSES),
                num_train=num_train, num_val=num_val, img_size=img_size,
                max_objects=max_objects, seed=seed)

    def write(tmp: str) -> None:
        write_split(tmp, 'train', num_train, img_size, seed, max_objects)
        write_split(tmp, 'val', num_val, img_size, seed, max_objects)

    return write_dir_once(out, meta, write, force)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write the shapes detection dataset (COCO format).')
    parser.add_argument('--out', default='data/shapes', help='output dir')
    parser.add_argument('--num-train', type=int, default=800)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--img-size', type=int, default=256)
    parser.add_argument('--max-objects', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the same data is present')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        wrote = make_shapes(args.out, args.num_train, args.num_val,
                            args.img_size, args.max_objects, args.seed,
                            args.force)
    except ValueError as e:
        from mmlcnetv2.cli import bad_input
        return bad_input(e)
    print(f'{"wrote" if wrote else "kept existing"} shapes dataset at '
          f'{args.out} ({args.num_train} train / {args.num_val} val images, '
          f'classes: {", ".join(CLASSES)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
