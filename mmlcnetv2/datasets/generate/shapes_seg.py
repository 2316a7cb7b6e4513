# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
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

    mmlcnetv2 make-shapes-seg                # skip if present
    mmlcnetv2 make-shapes-seg --force        # regenerate
    mmlcnetv2 make-shapes-seg --out /tmp/s --num-train 8 --num-val 4

``python tools/data/make_shapes_seg.py`` (in a checkout) takes the same
arguments.

Rerunnable: the data is written to a temporary sibling directory and renamed
into place only when complete, so an interrupted run leaves no half-written
dataset; an existing dataset written with the same arguments is kept.
"""
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from . import shapes_common

CLASSES: Tuple[str, ...] = ('background', ) + shapes_common.SHAPES
# Bumped whenever what is written changes (here or in shapes_common.py),
# so stale data is regenerated. 3: the drawing shared with make_shapes.py
# (its background colours and textures, squares upright at rotation 0).
FORMAT_VERSION = 3
# meta.json's signature: what this generator replaces (and nothing else).
GENERATOR = 'mmlcnetv2 tools/data/make_shapes_seg.py'
# Circumradius as a fraction of the image side: diameters of 16%..44%.
RADIUS = (0.08, 0.22)


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
    img = shapes_common.background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, max_objects + 1)):
        shape = shapes_common.random_shape(rng, size, RADIUS)
        label = CLASSES.index(shape.kind)
        x1, y1 = max(int(shape.cx - shape.r), 0), max(int(shape.cy - shape.r),
                                                      0)
        patch = img[y1:int(shape.cy + shape.r) + 1,
                    x1:int(shape.cx + shape.r) + 1]
        color = _class_color(rng, label, patch.reshape(-1, 3).mean(0))
        shape.fill(img, color, mask, label)
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
    return shapes_common.write_dataset(
        out, GENERATOR, write_split, FORMAT_VERSION, CLASSES, num_train,
        num_val, img_size, max_objects, seed, force, min_img_size=32)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line (``mmlcnetv2 make-shapes-seg``); returns the exit
    status."""
    return shapes_common.main(
        argv, make_shapes_seg,
        'Write the shapes segmentation dataset (image + PNG mask folders).',
        'shapes_seg', CLASSES, out='data/shapes_seg', num_train=400,
        num_val=60, img_size=192)

