# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write scikit-learn's handwritten digits as a class-per-folder dataset.

    mmlcnetv2 make-digits                 # -> data/digits
    mmlcnetv2 make-digits --out DIR --size 64 --val-fraction 0.2

(``python tools/data/make_digits.py`` in a checkout takes the same
arguments.)

``sklearn.datasets.load_digits`` ships with scikit-learn: 1,797 real 8x8
scans of the digits 0-9 (16 grey levels). Each is upscaled (bicubic) to
``--size`` pixels, stored as a 3-channel PNG, and split into ``train``/``val``
with a fixed seed, stratified by class::

    DIR/train/0/0003.png ... DIR/train/9/...
    DIR/val/0/...            DIR/val/9/...

which is mmpretrain's ``CustomDataset`` layout (class = folder name), and
``DIR/meta.json``, this generator's signature (its name and arguments). The
output is written to a temporary folder and renamed when complete. An
existing DIR is refused; ``--force`` replaces it only if its ``meta.json``
is this generator's (a folder of anything else, a dataset of the same
layout too, is left alone, exit status 2).
"""
import argparse
import json
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np

from mmlcnetv2.utils.atomic import (atomic_dir, check_replaceable_dir,
                                    signed_meta)

# meta.json's signature: what --force replaces (and nothing else).
GENERATOR = 'mmlcnetv2 tools/data/make_digits.py'
FORMAT_VERSION = 1


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/digits', help='output folder')
    parser.add_argument('--size', type=int, default=64, help='image size')
    parser.add_argument('--val-fraction', type=float, default=0.2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--limit', type=int, default=None,
        help='use only the first N digits (for quick tests)')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing output folder')
    return parser.parse_args(argv)


def to_image(digit: np.ndarray, size: int) -> np.ndarray:
    """An 8x8 digit with values 0..16 as a ``size``x``size``x3 uint8 image.

    Example:
        >>> to_image(np.full((8, 8), 16.), 64).shape
        (64, 64, 3)
    """
    from PIL import Image
    grey = np.clip(digit * (255.0 / 16.0), 0, 255).astype(np.uint8)
    img = Image.fromarray(grey, mode='L').resize((size, size),
                                                 Image.Resampling.BICUBIC)
    return np.stack([np.asarray(img)] * 3, axis=-1)


def is_digits_dataset(folder: str) -> bool:
    """Whether ``folder`` holds a dataset :func:`make_digits` wrote: its
    ``meta.json`` carries this generator's signature."""
    return signed_meta(osp.join(folder, 'meta.json'), GENERATOR) is not None


def split_indices(labels: np.ndarray, val_fraction: float,
                  seed: int) -> np.ndarray:
    """A boolean mask of the validation samples, stratified by class."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        is_val[idx[:int(round(len(idx) * val_fraction))]] = True
    return is_val


def make_digits(out: str, size: int = 64, val_fraction: float = 0.2,
                seed: int = 0, limit=None, force: bool = False) -> dict:
    """Write the dataset; returns the number of images per split."""
    from PIL import Image
    from sklearn.datasets import load_digits
    if not 0 < val_fraction < 1:
        raise ValueError(f'--val-fraction {val_fraction}: must be in (0, 1)')
    if size < 8:
        raise ValueError(f'--size {size}: must be at least 8')
    if osp.exists(out) and not force:
        raise FileExistsError(f'{out!r} exists; pass --force to replace it')
    # --force replaces a digits dataset, never another folder.
    check_replaceable_dir(out, is_digits_dataset, '--out')
    digits = load_digits()
    images, labels = digits.images, digits.target
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    is_val = split_indices(labels, val_fraction, seed)
    counts = {'train': 0, 'val': 0}
    with atomic_dir(out) as tmp:  # replaces an old ``out`` (--force)
        for i, (digit, label) in enumerate(zip(images, labels)):
            split = 'val' if is_val[i] else 'train'
            folder = osp.join(tmp, split, str(label))
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(to_image(digit, size)).save(
                osp.join(folder, f'{i:04d}.png'))
            counts[split] += 1
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(dict(generator=GENERATOR, format_version=FORMAT_VERSION,
                           size=size, val_fraction=val_fraction, seed=seed,
                           limit=limit, **counts), f, indent=1)
    return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line (``mmlcnetv2 make-digits``); returns the exit
    status."""
    args = parse_args(argv)
    try:
        counts = make_digits(args.out, args.size, args.val_fraction,
                             args.seed, args.limit, args.force)
    except (ValueError, FileExistsError) as e:
        from mmlcnetv2.errors import bad_input
        return bad_input(e)
    print(f'wrote {counts["train"]} train and {counts["val"]} val images '
          f'({args.size}x{args.size}) to {args.out}')
    return 0

