#!/usr/bin/env python
"""Write the embedded "shapes_seg" semantic segmentation dataset.

Circles, squares, triangles and stars (each class with its own hue, random
saturation and brightness) of random size, position and rotation (overlapping; later shapes occlude earlier ones) on textured
backgrounds (gradients, stripes, blobs, noise). Masks are single-channel PNGs
of class indices: 0 background, 1 circle, 2 square, 3 triangle, 4 star.
Seeded and deterministic: the same arguments write the same files.

Layout (mmseg's ``img_dir``/``ann_dir`` convention, what
``configs/seg/lraspp_lcnetv2-small_shapes-demo.py`` reads)::

    data/shapes_seg/
        img_dir/train/000000.jpg ...   img_dir/val/000000.jpg ...
        ann_dir/train/000000.png ...   ann_dir/val/000000.png ...
        meta.json                      # the arguments that wrote the data

Usage::

    python tools/data/make_shapes_seg.py                # skip if present
    python tools/data/make_shapes_seg.py --force        # regenerate
    python tools/data/make_shapes_seg.py --out /tmp/s --num-train 8 --num-val 4

Rerunnable: the data is written to a temporary sibling directory and renamed
into place only when complete, so an interrupted run leaves no half-written
dataset; an existing dataset written with the same arguments is kept.
"""
import argparse
import math
import os
import os.path as osp
import sys
from typing import Optional, Tuple

import cv2
import numpy as np

from mmlcnetv2.utils.atomic import write_dir_once

CLASSES: Tuple[str, ...] = ('background', 'circle', 'square', 'triangle',
                            'star')
# Bumped whenever the drawing changes, so stale data is regenerated.
FORMAT_VERSION = 2


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured BGR background: gradient + stripes or blobs + noise."""
    c0, c1 = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]
    kind = rng.integers(3)
    if kind == 0:  # stripes
        period, phase, a = (rng.uniform(6, 30), rng.uniform(0, 2 * math.pi),
                            rng.uniform(0, math.pi))
        s = np.sin((np.cos(a) * xx + np.sin(a) * yy) * size / period * 2 *
                   math.pi + phase)
        img += (s * rng.uniform(8, 30))[..., None]
    elif kind == 1:  # soft blobs
        for _ in range(rng.integers(3, 9)):
            cx, cy = rng.uniform(0, 1, 2)
            r = rng.uniform(0.05, 0.3)
            blob = np.exp(-((xx - cx)**2 + (yy - cy)**2) / (2 * r * r))
            img += blob[..., None] * rng.uniform(-50, 50, 3)[None, None]
    img += rng.normal(0, rng.uniform(3, 12), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(cls: str, cx: float, cy: float, r: float,
             rot: float) -> Optional[np.ndarray]:
    """The outline of a shape of circumradius ``r``; None for a circle."""
    if cls == 'circle':
        return None
    if cls == 'square':
        angles = rot + np.arange(4) * math.pi / 2
        radii = np.full(4, r)
    elif cls == 'triangle':
        angles = rot + np.arange(3) * 2 * math.pi / 3
        radii = np.full(3, r)
    elif cls == 'star':
        angles = rot + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
    else:
        raise ValueError(f'unknown shape class {cls!r}; known: {CLASSES[1:]}')
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)],
                    axis=1)


def _class_color(rng: np.random.Generator, label: int, mean: np.ndarray
                 ) -> Tuple[int, int, int]:
    """A BGR colour near the class's hue that differs from ``mean``.

    Each class has its own hue (circle red, square yellow-green, triangle
    cyan, star violet; +-20 degrees, random saturation and brightness), so a
    small network learns the demo in minutes; geometry still has to separate
    shapes from the (arbitrarily coloured) background.
    """
    base_hue = (label - 1) * 45  # OpenCV hue: 0..180 = 0..360 degrees
    for _ in range(20):
        hsv = np.array([[[(base_hue + rng.uniform(-10, 10)) % 180,
                          rng.uniform(130, 255),
                          rng.uniform(110, 255)]]], np.uint8)
        color = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.int64)
        if np.abs(color - mean).sum() > 120:
            break
    return tuple(int(c) for c in color)


def draw_sample(rng: np.random.Generator, size: int,
                max_objects: int) -> Tuple[np.ndarray, np.ndarray]:
    """One BGR image and its ``uint8`` mask of class indices.

    Example:
        >>> img, mask = draw_sample(np.random.default_rng(0), 64, 3)
        >>> img.shape, mask.shape, int(mask.max()) < len(CLASSES)
        ((64, 64, 3), (64, 64), True)
    """
    img = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, max_objects + 1)):
        label = int(rng.integers(1, len(CLASSES)))
        r = size * rng.uniform(0.08, 0.22)
        cx, cy = rng.uniform(r * 0.6, size - r * 0.6, 2)
        poly = _polygon(CLASSES[label], cx, cy, r, rng.uniform(0, 2 * math.pi))
        x1, y1 = max(int(cx - r), 0), max(int(cy - r), 0)
        patch = img[y1:int(cy + r) + 1, x1:int(cx + r) + 1]
        color = _class_color(rng, label, patch.reshape(-1, 3).mean(0))
        # Anti-aliased edges in the image, hard edges in the mask (a pixel
        # has one class); both from the same sub-pixel geometry.
        if poly is None:
            center = (int(round(cx * 16)), int(round(cy * 16)))
            radius = int(round(r * 16))
            cv2.circle(img, center, radius, color, -1, cv2.LINE_AA, shift=4)
            cv2.circle(mask, center, radius, label, -1, cv2.LINE_8, shift=4)
        else:
            pts = [np.round(poly * 16).astype(np.int32)]
            cv2.fillPoly(img, pts, color, cv2.LINE_AA, shift=4)
            cv2.fillPoly(mask, pts, label, cv2.LINE_8, shift=4)
    return img, mask


def write_split(root: str, split: str, num: int, size: int, seed: int,
                max_objects: int) -> None:
    """Write ``root/{img_dir,ann_dir}/split/*``.

    Every sample has its own generator seeded by (seed, split, index), so a
    split does not change when another split's size does.
    """
    split_key = {'train': 0, 'val': 1}[split]
    for sub in ('img_dir', 'ann_dir'):
        os.makedirs(osp.join(root, sub, split), exist_ok=True)
    for idx in range(num):
        img, mask = draw_sample(
            np.random.default_rng([seed, split_key, idx]), size, max_objects)
        for path, array, params in (
                (osp.join(root, 'img_dir', split, f'{idx:06d}.jpg'), img,
                 [cv2.IMWRITE_JPEG_QUALITY, 95]),
                (osp.join(root, 'ann_dir', split, f'{idx:06d}.png'), mask,
                 [])):
            if not cv2.imwrite(path, array, params):
                raise OSError(f'could not write {path}')


def make_shapes_seg(out: str = 'data/shapes_seg',
                    num_train: int = 400,
                    num_val: int = 60,
                    img_size: int = 192,
                    max_objects: int = 5,
                    seed: int = 0,
                    force: bool = False) -> bool:
    """Write the dataset to ``out`` unless the same one is there.

    Args:
        out: Dataset directory.
        num_train: Number of training images.
        num_val: Number of validation images.
        img_size: Side of the square images, in pixels.
        max_objects: At most this many shapes per image (at least one).
        seed: Seed of the generator.
        force: Regenerate even if an identical dataset is present.

    Returns:
        bool: True if it wrote the data, False if it kept the existing data.

    Example:
        >>> make_shapes_seg('/tmp/shapes_seg', num_train=4, num_val=2)
        True
    """
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1),
                             ('img_size', img_size, 32),
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
        description='Write the shapes segmentation dataset (image + PNG '
        'mask folders).')
    parser.add_argument('--out', default='data/shapes_seg', help='output dir')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=60)
    parser.add_argument('--img-size', type=int, default=192)
    parser.add_argument('--max-objects', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the same data is present')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        wrote = make_shapes_seg(args.out, args.num_train, args.num_val,
                                args.img_size, args.max_objects, args.seed,
                                args.force)
    except ValueError as e:
        from mmlcnetv2.cli import bad_input
        return bad_input(e)
    print(f'{"wrote" if wrote else "kept existing"} shapes_seg dataset at '
          f'{args.out} ({args.num_train} train / {args.num_val} val images, '
          f'classes: {", ".join(CLASSES)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
