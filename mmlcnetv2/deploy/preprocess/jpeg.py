# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Reduced-size JPEG decoding for photos much larger than the network input.

libjpeg can decode a JPEG at 1/2, 1/4 or 1/8 of its size by scaling the
DCT (``cv2.IMREAD_REDUCED_COLOR_*``), which skips most of the inverse DCT
and colour conversion work of a full decode. When the test pipeline's first
resize shrinks the image a lot anyway, decoding at the largest reduction
that still leaves the resize a downsampling by ``margin`` changes the
network input by about as much as another resize filter would (measured by
``benchmarks/experiments/measure_reduced_decode.py``; numbers in docs/deploy.md).

Results must still come back in ORIGINAL image coordinates, so
:func:`decode_for_steps` performs the first resize itself to the size the
full-size image would be resized to (computed from the original size read
from the JPEG header, not from the reduced image, whose sides are
``ceil(side / factor)``) and returns the scale from the original image.
The remaining steps then run unchanged.

Example:
    >>> steps = [dict(op='resize_edge', scale=256, edge='short',
    ...               interpolation='bilinear'),
    ...          dict(op='center_crop', crop_size=[224, 224])]
    >>> resize_size((4000, 3000), steps[0])
    (341, 256)
    >>> reduction_factor((4000, 3000), (341, 256))
    4
"""
import math
import warnings
from typing import List, NamedTuple, Optional, Tuple

import cv2
import mmcv
import numpy as np

from .steps import STEPS

#: Reduction factor -> the OpenCV flag that decodes at 1/factor (colour).
REDUCED_FLAGS = {
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}

#: The reduced image must stay this many times larger (per side) than the
#: first resize's output, so that resize still downsamples and averages.
DEFAULT_MARGIN = 2.0

# EXIF orientations that swap width and height (cv2 applies the rotation
# when it decodes, for full and reduced decodes alike).
_TRANSPOSED = (5, 6, 7, 8)


class Decoded(NamedTuple):
    """An image decoded for a test pipeline.

    Attributes:
        image: BGR uint8; after the first resize when ``factor > 1``.
        steps: The steps still to run on ``image``.
        scale: ``(w, h)`` scale of ``image`` from the original image (1.0 if
            nothing was resized yet).
        ori_shape: ``(h, w)`` of the original (full-size) image.
        factor: The JPEG reduction used: 1 (full decode), 2, 4 or 8.
    """
    image: np.ndarray
    steps: List[dict]
    scale: Tuple[float, float]
    ori_shape: Tuple[int, int]
    factor: int


def resize_size(size: Tuple[int, int], step: dict,
                fit: Optional[Tuple[int, int]] = None
                ) -> Optional[Tuple[int, int]]:
    """The ``(w, h)`` a resize step makes of an image of ``size`` (w, h).

    The step's own rule (:meth:`.steps.Step.out_size`), which
    :func:`.host.apply_steps` resizes by.

    Args:
        size: ``(w, h)`` of the input image.
        step: One step of ``deploy.json``'s ``preprocess.steps``.
        fit: A static IR's ``(h, w)``, as in ``apply_steps``.

    Returns:
        ``(w, h)``, or None for a step that does not resize (a crop).
    """
    return STEPS[step['op']].out_size(size, step, fit)


def reduction_factor(size: Tuple[int, int], target: Tuple[int, int],
                     margin: float = DEFAULT_MARGIN) -> int:
    """The largest JPEG reduction (1, 2, 4 or 8) that keeps ``margin``.

    Args:
        size: ``(w, h)`` of the full-size image.
        target: ``(w, h)`` the image is resized to next.
        margin: Each side of the reduced image (``ceil(side / factor)``)
            must be at least ``margin`` times the target's.

    Example:
        >>> reduction_factor((1600, 1200), (341, 256))
        2
        >>> reduction_factor((640, 427), (383, 256))
        1
    """
    for factor in (8, 4, 2):
        if all(math.ceil(s / factor) >= margin * t
               for s, t in zip(size, target)):
            return factor
    return 1


def jpeg_size(path: str) -> Optional[Tuple[int, int]]:
    """``(w, h)`` of a JPEG file as decoded (EXIF rotation applied).

    Reads only the header. None for anything else (another format, a
    header PIL cannot parse): those are decoded at full size, which keeps
    today's behaviour and error messages for them.
    """
    from PIL import Image
    try:
        with open(path, 'rb') as f:
            if f.read(3) != b'\xff\xd8\xff':
                return None
        with warnings.catch_warnings():
            # Header only: a huge photo is not a decompression bomb here.
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.format != 'JPEG':
                    return None
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001  (PIL raises anything on bad headers)
        return None
    return (h, w) if orientation in _TRANSPOSED else (w, h)


def decode_for_steps(path: str, steps: List[dict],
                     fit: Optional[Tuple[int, int]] = None,
                     margin: float = DEFAULT_MARGIN) -> Decoded:
    """Decode ``path`` as small as the first resize of ``steps`` allows.

    A JPEG whose first step is a resize to (per side) at most ``1/margin``
    of its reduced size is decoded with libjpeg DCT scaling and resized
    here to exactly the size the full image would get; anything else
    (other formats, small JPEGs, pipelines starting with a crop) is
    decoded at full size by ``load_image``, as without this module.

    Args:
        path: An image file.
        steps: ``deploy.json``'s ``preprocess.steps``.
        fit: A static IR's ``(h, w)``, as in ``apply_steps``.
        margin: See :func:`reduction_factor`.

    Returns:
        Decoded: Continue with ``apply_steps(decoded.image,
        decoded.steps, fit)`` and multiply its scale by ``decoded.scale``.

    Raises:
        FileNotFoundError, ValueError: As ``load_image``.
    """
    from .image_file import (DECODES, check_image_file, decode_failure,
                             decode_file, is_truncated_jpeg)
    check_image_file(path)  # before any read: a FIFO, the pixel limit
    size = jpeg_size(path) if steps else None
    target = resize_size(size, steps[0], fit) if size else None
    # A side of 0 pixels: the full path gives its clear error for that.
    factor = reduction_factor(size, target, margin) \
        if target and min(target) >= 1 else 1
    if factor > 1:
        w, h = size
        data = np.fromfile(path, np.uint8)
        with DECODES.reserve(math.ceil(w / factor) * math.ceil(h / factor)):
            img = cv2.imdecode(data, REDUCED_FLAGS[factor])
        if img is not None and is_truncated_jpeg(path):
            raise ValueError(f'Cannot decode image {path!r}: '
                             f'{decode_failure(path)}')
        # libjpeg gives ceil(side / factor); anything else (a file PIL and
        # libjpeg read differently) is decoded at full size instead.
        if img is not None and img.shape[:2] == (math.ceil(h / factor),
                                                 math.ceil(w / factor)):
            img = mmcv.imresize(img, tuple(target),
                                interpolation=steps[0]['interpolation'])
            return Decoded(img, list(steps[1:]),
                           (target[0] / w, target[1] / h), (h, w), factor)
    img = decode_file(path)
    return Decoded(img, list(steps), (1.0, 1.0), img.shape[:2], 1)
