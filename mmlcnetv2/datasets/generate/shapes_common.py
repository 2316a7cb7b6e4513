"""What the two shapes generators share: the drawing and the writing.

``shapes.py`` (detection, COCO boxes) and ``shapes_seg.py``
(segmentation, PNG masks) draw the same scenes: circles, squares, triangles
and stars of random size, position and rotation on textured backgrounds,
and write them the same way: a train and a val split, seeded, into a
folder renamed into place when complete, kept when an identical one is
there. Each generator keeps what is its own (how objects are placed and
coloured, what a split's files are); this module is the rest.

A change here changes both datasets: bump ``FORMAT_VERSION`` in both
generators, so that data written before is regenerated.

Example:
    >>> rng = np.random.default_rng(0)
    >>> img = background(rng, 64)
    >>> shape = random_shape(rng, 64, radius=(0.1, 0.2))
    >>> mask = np.zeros((64, 64), np.uint8)
    >>> shape.fill(img, (0, 0, 255), mask, label=1)
    >>> img.shape, int(mask.max())
    ((64, 64, 3), 1)
"""
import argparse
import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmlcnetv2.utils.atomic import write_dir_once

SHAPES: Tuple[str, ...] = ('circle', 'square', 'triangle', 'star')
# cv2's sub-pixel drawing: coordinates are passed times 2**SHIFT.
_SHIFT = 4
_SCALE = 1 << _SHIFT


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A textured ``size`` x ``size`` BGR background.

    A two-colour gradient in a random direction, then stripes, soft blobs or
    nothing more, then Gaussian noise: texture a model must learn to ignore.
    """
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = np.cos(angle) * xx + np.sin(angle) * yy
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
    # kind == 2: the gradient only, plus the noise below
    img += rng.normal(0, rng.uniform(3, 12), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Shape:
    """One shape: its kind, centre, circumradius and rotation (radians).

    At ``rot=0`` a square is upright (sides parallel to the image's) and a
    triangle or star has a vertex pointing right.
    """
    kind: str
    cx: float
    cy: float
    r: float
    rot: float = 0.0

    def vertices(self) -> Optional[np.ndarray]:
        """The polygon's ``(N, 2)`` x, y vertices; None for a circle."""
        if self.kind == 'circle':
            return None
        if self.kind == 'square':
            angles = self.rot + np.arange(4) * math.pi / 2 + math.pi / 4
            radii = np.full(4, self.r)
        elif self.kind == 'triangle':
            angles = self.rot + np.arange(3) * 2 * math.pi / 3
            radii = np.full(3, self.r)
        elif self.kind == 'star':
            angles = self.rot + np.arange(10) * math.pi / 5
            radii = np.where(np.arange(10) % 2 == 0, self.r, self.r * 0.45)
        else:
            raise ValueError(
                f'unknown shape {self.kind!r}; known: {SHAPES}')
        return np.stack([self.cx + radii * np.cos(angles),
                         self.cy + radii * np.sin(angles)], axis=1)

    def box(self) -> Tuple[float, float, float, float]:
        """x1, y1, x2, y2 of the whole shape (not clipped to the image)."""
        pts = self.vertices()
        if pts is None:
            return (self.cx - self.r, self.cy - self.r, self.cx + self.r,
                    self.cy + self.r)
        return (float(pts[:, 0].min()), float(pts[:, 1].min()),
                float(pts[:, 0].max()), float(pts[:, 1].max()))

    def outline(self, circle_points: int = 24) -> np.ndarray:
        """The vertices, a circle as a ``circle_points``-gon (for COCO)."""
        pts = self.vertices()
        if pts is not None:
            return pts
        angles = np.linspace(0, 2 * math.pi, circle_points, endpoint=False)
        return np.stack([self.cx + self.r * np.cos(angles),
                         self.cy + self.r * np.sin(angles)], axis=1)

    def fill(self, img: np.ndarray, color: Sequence[int],
             mask: Optional[np.ndarray] = None, label: int = 0) -> None:
        """Fill the shape into ``img`` in ``color``, and into ``mask`` as
        ``label``.

        Anti-aliased edges in the image, hard edges in the mask (a pixel has
        one class); both from the same sub-pixel geometry.
        """
        color = tuple(int(c) for c in color)
        pts = self.vertices()
        if pts is None:
            center = (int(round(self.cx * _SCALE)),
                      int(round(self.cy * _SCALE)))
            radius = int(round(self.r * _SCALE))
            cv2.circle(img, center, radius, color, -1, cv2.LINE_AA,
                       shift=_SHIFT)
            if mask is not None:
                cv2.circle(mask, center, radius, label, -1, cv2.LINE_8,
                           shift=_SHIFT)
            return
        poly = [np.round(pts * _SCALE).astype(np.int32)]
        cv2.fillPoly(img, poly, color, cv2.LINE_AA, shift=_SHIFT)
        if mask is not None:
            cv2.fillPoly(mask, poly, label, cv2.LINE_8, shift=_SHIFT)


def random_shape(rng: np.random.Generator, size: int,
                 radius: Tuple[float, float]) -> Shape:
    """A shape of random kind, circumradius ``radius`` (fractions of
    ``size``), position and rotation, mostly inside the image (the border
    may cut it a little)."""
    kind = SHAPES[rng.integers(len(SHAPES))]
    r = size * rng.uniform(*radius)
    cx, cy = rng.uniform(r * 0.6, size - r * 0.6, 2)
    return Shape(kind, float(cx), float(cy), float(r),
                 float(rng.uniform(0, 2 * math.pi)))


#: ``write_split(root, split, num, img_size, seed, max_objects)``
WriteSplit = Callable[[str, str, int, int, int, int], None]


def write_dataset(out: str, generator: str, write_split: WriteSplit,
                  format_version: int,
                  classes: Sequence[str], num_train: int, num_val: int,
                  img_size: int, max_objects: int, seed: int, force: bool,
                  min_img_size: int) -> bool:
    """Check the arguments, then write both splits into ``out`` with
    ``write_split`` unless the same dataset is there.

    ``meta.json`` (``generator``, the generator's name, the arguments and
    ``format_version``: its signature) tells whether it is, and whether
    ``out`` is this generator's to replace at all: see
    ``mmlcnetv2.utils.atomic.write_dir_once``.

    Returns:
        bool: True if it wrote the data, False if it kept the existing data.

    Raises:
        ValueError: a size or count below its minimum, named.
    """
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1),
                             ('img_size', img_size, min_img_size),
                             ('max_objects', max_objects, 1)):
        if value < low:
            raise ValueError(f'{name} must be >= {low}, got {value}')
    meta = dict(generator=generator, format_version=format_version,
                classes=list(classes),
                num_train=num_train, num_val=num_val, img_size=img_size,
                max_objects=max_objects, seed=seed)

    def write(tmp: str) -> None:
        write_split(tmp, 'train', num_train, img_size, seed, max_objects)
        write_split(tmp, 'val', num_val, img_size, seed, max_objects)

    return write_dir_once(out, meta, write, force)


def main(argv: Optional[Sequence[str]], make: Callable[..., bool],
         description: str, name: str, classes: Sequence[str], out: str,
         num_train: int, num_val: int, img_size: int) -> int:
    """A generator's command line: ``make(out, num_train, num_val,
    img_size, max_objects, seed, force)`` with the parsed arguments; exit
    status 2 and one line naming the bad argument on bad input."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--out', default=out, help='output dir')
    parser.add_argument('--num-train', type=int, default=num_train)
    parser.add_argument('--num-val', type=int, default=num_val)
    parser.add_argument('--img-size', type=int, default=img_size)
    parser.add_argument('--max-objects', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the same data is present '
                        "(only this generator's own dataset is ever "
                        'replaced)')
    args = parser.parse_args(argv)
    try:
        wrote = make(args.out, args.num_train, args.num_val, args.img_size,
                     args.max_objects, args.seed, args.force)
    except ValueError as e:
        from mmlcnetv2.errors import bad_input
        return bad_input(e)
    print(f'{"wrote" if wrote else "kept existing"} {name} dataset at '
          f'{args.out} ({args.num_train} train / {args.num_val} val images, '
          f'classes: {", ".join(classes)})')
    return 0
