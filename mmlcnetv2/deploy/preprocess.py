# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Image loading and the test-pipeline replay of ``deploy.json``.

Uses the mmcv image functions the OpenMMLab transforms call, so the pixels
are the same as in ``model.test_step``.
"""
import os.path as osp
from typing import List, Optional, Tuple, Union

import cv2
import mmcv
import numpy as np

ImageLike = Union[str, np.ndarray]


def load_image(image: ImageLike, color_order: str = 'BGR') -> np.ndarray:
    """An image path or array as an ``HxWx3`` uint8 BGR array.

    Grayscale images are repeated to 3 channels and RGBA images lose their
    alpha channel (as ``LoadImageFromFile`` with ``color_type='color'``
    does). Arrays are taken as BGR (OpenCV's order) unless ``color_order``
    says ``'RGB'``.

    Raises:
        FileNotFoundError: ``image`` is a path that does not exist.
        ValueError: the file cannot be decoded or the array has a shape that
            is not an image.
    """
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        path = str(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'Image not found: {path!r}')
        try:
            img = mmcv.imread(path, flag='color', channel_order='bgr')
        except Exception as e:  # noqa: BLE001  (cv2/pillow raise anything)
            raise ValueError(f'Cannot decode image {path!r}: {e}') from e
        if img is None:
            raise ValueError(
                f'Cannot decode image {path!r}: not an image file OpenCV '
                'can read (jpg, png, bmp, webp, tiff, ...).')
        return img
    if not isinstance(image, np.ndarray):
        raise TypeError(f'image must be a path or a numpy array, got '
                        f'{type(image).__name__}')
    img = image
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
        raise ValueError(
            f'An image array must be HxW (gray), HxWx1, HxWx3 or HxWx4 '
            f'(alpha dropped), got shape {image.shape}')
    if img.dtype != np.uint8:
        raise ValueError(f'An image array must be uint8, got {img.dtype}')
    if color_order.upper() == 'RGB':
        img = img[:, :, ::-1]
    return np.ascontiguousarray(img)


def apply_steps(img: np.ndarray, steps: List[dict],
                fit: Optional[Tuple[int, int]] = None
                ) -> Tuple[np.ndarray, Tuple[float, float], Tuple[int, int]]:
    """Replay the resize/crop steps of the test pipeline.

    Args:
        img: The BGR image.
        steps: ``deploy.json``'s ``preprocess.steps``.
        fit: For a static-shape IR, ``(h, w)`` the keep-ratio resizes must fit
            into (scale ``min(w / img_w, h / img_h)``); for a square config
            scale this is the config's own rule.

    Returns:
        The processed image, ``(w_scale, h_scale)`` from the original image,
        and the crop offset ``(x, y)`` in resized pixels.
    """
    w_scale = h_scale = 1.0
    offset = (0, 0)
    for step in steps:
        h, w = img.shape[:2]
        op = step['op']
        if op == 'resize_edge':
            scale = step['scale']
            if (step['edge'] == 'short' and w < h) or (
                    step['edge'] == 'long' and w > h) or \
                    step['edge'] == 'width':
                size = (scale, int(scale * h / w))
            else:
                size = (int(scale * w / h), scale)
            img = mmcv.imresize(img, size,
                                interpolation=step['interpolation'])
        elif op == 'resize' and step['keep_ratio']:
            if fit is not None:
                factor = min(fit[1] / w, fit[0] / h)
                img = mmcv.imrescale(img, factor,
                                     interpolation=step['interpolation'])
            else:
                img = mmcv.imrescale(img, tuple(step['scale']),
                                     interpolation=step['interpolation'])
        elif op == 'resize':
            img = mmcv.imresize(img, tuple(step['scale']),
                                interpolation=step['interpolation'])
        elif op == 'center_crop':
            cw, ch = step['crop_size']
            ch, cw = min(ch, h), min(cw, w)
            y1 = max(0, int(round((h - ch) / 2.)))
            x1 = max(0, int(round((w - cw) / 2.)))
            img = img[y1:y1 + ch, x1:x1 + cw]
            offset = (offset[0] + x1, offset[1] + y1)
        else:
            raise ValueError(f'Unknown preprocessing step {op!r}')
        if op != 'center_crop':
            nh, nw = img.shape[:2]
            w_scale, h_scale = w_scale * nw / w, h_scale * nh / h
    return img, (w_scale, h_scale), offset


def normalize(img: np.ndarray, mean: List[float], std: List[float],
              color_order: str) -> np.ndarray:
    """BGR uint8 HxWx3 -> float32 3xHxW, colour-converted and normalized."""
    if color_order == 'RGB':
        img = img[:, :, ::-1]
    x = img.astype(np.float32).transpose(2, 0, 1)
    mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(std, np.float32).reshape(3, 1, 1)
    return (x - mean) / std


def pad_to(x: np.ndarray, shape: Tuple[int, int], value: float = 0.0
           ) -> np.ndarray:
    """Pad a CxHxW array at the bottom and right to ``shape`` (h, w)."""
    c, h, w = x.shape
    if h > shape[0] or w > shape[1]:
        raise ValueError(f'Image of {h}x{w} does not fit the model input '
                         f'{shape[0]}x{shape[1]}')
    out = np.full((c, shape[0], shape[1]), value, np.float32)
    out[:, :h, :w] = x
    return out


def prepare(img: np.ndarray, pre: dict,
            fit: Optional[Tuple[int, int]] = None) -> dict:
    """A BGR image as the IR's input: the test pipeline, then padding.

    Args:
        img: The BGR uint8 image.
        pre: ``deploy.json``'s ``preprocess``.
        fit: A static IR's input ``(h, w)``: keep-ratio resizes fit into it
            and the image is padded to it. None (a dynamic IR): padded to
            ``pad_size_divisor``, as the data preprocessor does.

    Returns:
        dict: ``input`` ``float32 [3, H, W]``, ``img_shape`` (h, w before
        padding), ``scale`` (w, h) and crop ``offset`` (x, y).
    """
    try:
        img, scale, offset = apply_steps(img, pre['steps'], fit)
    except cv2.error as e:
        # e.g. 2000x3 resized to fit 96x96: a side of 0 pixels, which
        # cv2.resize refuses with an assertion naming no image.
        raise ValueError(
            f'an image of {img.shape[0]}x{img.shape[1]} pixels cannot go '
            f'through the test pipeline (a side shrinks below 1 pixel?): '
            f"OpenCV: {str(e).strip().split('error: ')[-1]}") from e
    img_shape = tuple(img.shape[:2])
    x = normalize(img, pre['mean'], pre['std'], pre['color_order'])
    if fit is None:
        d = pre.get('pad_size_divisor', 0)
        if d:
            h, w = img_shape
            x = pad_to(x, (-(-h // d) * d, -(-w // d) * d),
                       pre.get('pad_value', 0.0))
    elif img_shape != tuple(fit):
        x = pad_to(x, tuple(fit), pre.get('pad_value', 0.0))
    return dict(input=x, img_shape=img_shape, scale=scale, offset=offset)
