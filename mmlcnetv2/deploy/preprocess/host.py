# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The reader of ``deploy.json``'s preprocessing (inference and
calibration time): an image becomes the IR's input by replaying the steps
(:mod:`.steps`) with the same mmcv image functions the OpenMMLab
transforms call, then normalization and padding as the data preprocessor
does them, so the pixels are the same as in ``model.test_step``; for an IR
that preprocesses itself (``input.preprocess_in_graph``) only what it does
not. ``deploy.json`` steps the reader does not know are refused by name
when the file is read (:mod:`~mmlcnetv2.deploy.manifest.schema`,
``preprocess.steps[i].op``). The writer is :mod:`.spec`.

Example:
    >>> prepare('demo.jpg', meta)['input'].shape  # doctest: +SKIP
    (1, 224, 224, 3)
"""
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np

from .image_file import decode_file
from .spec import in_graph
from .steps import STEPS, Pad

ImageLike = Union[str, np.ndarray]


def load_image(image: ImageLike, color_order: str = 'BGR') -> np.ndarray:
    """An image path or array as an ``HxWx3`` uint8 BGR array.

    Grayscale images are repeated to 3 channels and RGBA images lose their
    alpha channel (as ``LoadImageFromFile`` with ``color_type='color'``
    does). Arrays are taken as BGR (OpenCV's order) unless ``color_order``
    says ``'RGB'``.

    Raises:
        FileNotFoundError: ``image`` is a path that does not exist.
        ValueError: the file cannot be decoded (named: a FIFO, an empty or
            truncated file), has more pixels than the limit of
            :mod:`.image_file` (checked from its header, before decoding),
            or the array has a shape that is not an image.
    """
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        return decode_file(str(image))
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
    """Replay the resize/crop/pad steps of the test pipeline, each by its
    step of :data:`.steps.STEPS` (:meth:`.steps.Step.apply`).

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
        kind = STEPS.get(step['op'], None)
        if kind is None:
            raise ValueError(f"Unknown preprocessing step {step['op']!r}")
        img, (dx, dy) = kind.apply(img, step, fit)
        offset = (offset[0] + dx, offset[1] + dy)
        if kind.resizes:
            nh, nw = img.shape[:2]
            w_scale, h_scale = w_scale * nw / w, h_scale * nh / h
    return img, (w_scale, h_scale), offset


def host_steps(steps: List[dict], graph: Sequence[str]) -> List[dict]:
    """The steps the host replays: all but a ``pad`` the IR does itself
    (``pad_image`` in ``input.preprocess_in_graph``)."""
    if 'pad_image' not in graph:
        return list(steps)
    return [s for s in steps if s['op'] != Pad.op]


def resized_shape(hw: Tuple[int, int], steps: List[dict]
                  ) -> Tuple[Tuple[int, int], Tuple[float, float]]:
    """``(h, w)`` of an image of size ``hw`` after the one resize of
    ``steps`` (see :func:`.spec.graph_resize_step`), and ``(w_scale,
    h_scale)``: what :func:`apply_steps` gives, without resizing."""
    h, w = hw
    nw, nh = STEPS[steps[0]['op']].out_size((w, h), steps[0])
    return (nh, nw), (nw / w, nh / h)


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


def uint8_pad_value(pre: dict) -> np.ndarray:
    """The BGR ``uint8`` pixel nearest to ``pad_value`` after normalization:
    what a static ``uint8`` IR gets padded with on the host (the graph's
    input size is fixed, so it cannot pad itself)."""
    raw = np.asarray(pre['mean'], np.float64) + pre.get(
        'pad_value', 0.0) * np.asarray(pre['std'], np.float64)
    if pre['color_order'] == 'RGB':
        raw = raw[::-1]
    return np.clip(np.round(raw), 0, 255).astype(np.uint8)


def input_fit(meta: dict) -> Optional[Tuple[int, int]]:
    """A static IR's input ``(h, w)``, None for a dynamic one."""
    if meta['input']['dynamic']:
        return None
    return tuple(meta['input']['export_size'])


def prepare_image(img: np.ndarray, pre: dict,
                  fit: Optional[Tuple[int, int]] = None,
                  graph: Sequence[str] = ()) -> dict:
    """A decoded BGR image through ``pre``'s steps, normalization, padding.

    Args:
        img: The BGR uint8 image.
        pre: ``deploy.json``'s ``preprocess``.
        fit: A static IR's input ``(h, w)``: keep-ratio resizes fit into it
            and the image is padded to it. None (a dynamic IR): padded to
            ``pad_size_divisor``, as the data preprocessor does.
        graph: The steps the IR does itself (:func:`in_graph`); with
            ``normalize`` among them the image stays ``uint8``.

    Returns:
        dict: ``input`` ``float32 [3, H, W]`` (``uint8 [H, W, 3]`` BGR for
        an IR that normalizes), ``img_shape`` (h, w before padding),
        ``scale`` (w, h) and crop ``offset`` (x, y).
    """
    if 'resize' in graph:  # the IR resizes: the host only says to what
        img_shape, scale = resized_shape(img.shape[:2], pre['steps'])
        return dict(input=np.ascontiguousarray(img), img_shape=img_shape,
                    scale=scale, offset=(0, 0))
    try:
        resized, scale, offset = apply_steps(
            img, host_steps(pre['steps'], graph), fit)
    except cv2.error as e:
        # e.g. 2000x3 resized to fit 96x96: a side of 0 pixels, which
        # cv2.resize refuses with an assertion naming no image.
        raise ValueError(
            f'an image of {img.shape[0]}x{img.shape[1]} pixels cannot go '
            f'through the test pipeline (a side shrinks below 1 pixel?): '
            f"OpenCV: {str(e).strip().split('error: ')[-1]}") from e
    img_shape = tuple(resized.shape[:2])
    for step in pre['steps']:
        if step['op'] == Pad.op and 'pad_image' in graph:
            # The IR pads; mmdet's Pad makes the padded size the img_shape.
            img_shape = STEPS[Pad.op].checked_target(img_shape, step)
    if fit is not None and (img_shape[0] > fit[0] or img_shape[1] > fit[1]):
        # A static input and a pipeline that does not bring the image to
        # it (e.g. the digits config, whose test pipeline has no resize).
        raise ValueError(
            f'an image of {img.shape[0]}x{img.shape[1]} pixels is '
            f'{img_shape[0]}x{img_shape[1]} after the test pipeline, larger '
            f'than the static input {fit[0]}x{fit[1]} of this IR; allowed: '
            f'images the pipeline makes at most {fit[0]}x{fit[1]} (resize '
            'them first, or add a Resize to the test pipeline and export '
            'again)')
    if 'normalize' in graph:
        x = np.ascontiguousarray(resized)
        if fit is not None and img_shape != tuple(fit):
            x = np.empty((fit[0], fit[1], 3), np.uint8)
            x[...] = uint8_pad_value(pre)
            x[:img_shape[0], :img_shape[1]] = resized
        # A dynamic IR pads to the size divisor itself ('pad').
        return dict(input=x, img_shape=img_shape, scale=scale, offset=offset)
    x = normalize(resized, pre['mean'], pre['std'], pre['color_order'])
    if fit is None:
        d = pre.get('pad_size_divisor', 0)
        if d:
            h, w = img_shape
            x = pad_to(x, (-(-h // d) * d, -(-w // d) * d),
                       pre.get('pad_value', 0.0))
    elif img_shape != tuple(fit):
        x = pad_to(x, tuple(fit), pre.get('pad_value', 0.0))
    return dict(input=x, img_shape=img_shape, scale=scale, offset=offset)


def prepare(image: ImageLike, meta: dict, fast_decode: bool = False) -> dict:
    """An image as the IR's input: the test pipeline, then padding.

    A static IR (``input_fit``) gets every keep-ratio resize fitted into its
    input and the image padded to it; a dynamic one is padded to
    ``pad_size_divisor``, as the data preprocessor does.

    Args:
        image: A path, or a BGR uint8 array (see :func:`load_image`).
        meta: ``deploy.json`` (its ``preprocess`` and ``input``).
        fast_decode: For a JPEG path much larger than the first resize,
            decode at 1/2, 1/4 or 1/8 size
            (:mod:`~mmlcnetv2.deploy.preprocess.jpeg`);
            the results stay in original-image coordinates.

    Returns:
        dict: ``input``, what the IR takes (``uint8 [1, H, W, 3]`` BGR, or
        ``float32 [1, 3, H, W]`` for the float form: ``meta['input']``),
        ``img_shape`` (h, w before padding), ``scale`` (w, h), crop
        ``offset`` (x, y) and ``ori_shape`` (h, w of the image).
    """
    pre, fit, graph = meta['preprocess'], input_fit(meta), in_graph(meta)
    if fast_decode and not isinstance(image, np.ndarray):
        from .jpeg import decode_for_steps
        decoded = decode_for_steps(str(image), pre['steps'], fit)
        info = prepare_image(decoded.image, dict(pre, steps=decoded.steps),
                             fit, graph)
        # The first resize happened while decoding: scale from the original.
        info['scale'] = (info['scale'][0] * decoded.scale[0],
                         info['scale'][1] * decoded.scale[1])
        info['ori_shape'] = tuple(decoded.ori_shape)
    else:
        img = load_image(image)
        info = prepare_image(img, pre, fit, graph)
        info['ori_shape'] = img.shape[:2]
    info['input'] = info['input'][None]
    return info
