# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The preprocessing contract of ``deploy.json``: written at export, read at
inference and calibration.

Writer (:func:`export_preprocess`): the config's test pipeline becomes a
short list of plain steps (``resize_edge``, ``resize``, ``center_crop``)
plus the data preprocessor's mean, std, colour order and padding. A
transform without a deployment meaning is refused at export time, by name.

Reader (:func:`prepare`): an image becomes the IR's input by replaying those
steps with the same mmcv image functions the OpenMMLab transforms call, then
normalization and padding as the data preprocessor does them, so the pixels
are the same as in ``model.test_step``. ``deploy.json`` steps the reader
does not know are refused by name when the file is read
(:mod:`mmlcnetv2.deploy.schema`, ``preprocess.steps[i].op``).

Host or graph (:func:`input_spec`, ``deploy.json``'s ``input``): the default
export (``input.dtype`` ``uint8``) takes the resized and cropped ``uint8``
image, ``NHWC``, BGR as OpenCV decodes it, and does the conversion to float,
the colour order, the normalization, the layout and (dynamic IRs) the
padding inside (:mod:`~mmlcnetv2.deploy.graph_preprocess`, recorded as
``input.preprocess_in_graph``); the host replays the resize and crop steps
only, because their output size depends on the image. The ``float`` form
(``tools/deploy.py --input float``, and every export before it) takes the
normalized, padded ``float32 [B, 3, H, W]`` tensor and the host does all.
The ``image`` form (``--input image``, dynamic detectors and segmentors
whose pipeline is one resize) takes the decoded image as it is and resizes
inside too, to the ``img_shape`` the host computes from the image size
(``resize`` in ``input.preprocess_in_graph``).

Example:
    >>> pre, shape = export_preprocess(cfg, get_task('classification'))
    ... # doctest: +SKIP
    >>> prepare('demo.jpg', meta)['input'].shape  # doctest: +SKIP
    (1, 3, 224, 224)
"""
import os.path as osp
from typing import (TYPE_CHECKING, List, Optional, Sequence, Tuple,
                    Union)

import cv2
import mmcv
import numpy as np
from mmengine.config import Config

from ..names import INPUT_FORMS

if TYPE_CHECKING:  # the tasks import this module
    from .tasks import DeployTask

ImageLike = Union[str, np.ndarray]
# Transforms that load, annotate or pack: nothing to replay at inference.
_SKIPPED = {'LoadImageFromFile', 'LoadAnnotations', 'PackInputs',
            'PackDetInputs', 'PackSegInputs', 'mmdet.LoadAnnotations',
            'mmdet.PackDetInputs', 'CheckSegMap'}


# ----------------------------------------------------------------- writer


def _pair(value, name: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f'{name} must be an int or (w, h), got {value!r}')


def data_preprocessor(cfg: Config) -> dict:
    """The config's data preprocessor settings (mean, std, padding, ...)."""
    # mmpretrain configs keep it at the top level; mmdet/mmseg in the model.
    pre = dict(cfg.get('data_preprocessor', None) or {})
    pre.update(cfg.model.get('data_preprocessor', None) or {})
    return pre


def _test_pipeline(cfg: Config) -> List[dict]:
    pipeline = (cfg.get('test_dataloader', None) or cfg.get(
        'val_dataloader', None) or {}).get('dataset', {}).get('pipeline', None)
    if pipeline is None:
        pipeline = cfg.get('test_pipeline', None)
    if pipeline is None:
        raise ValueError('The config has no test pipeline (test_dataloader.'
                         'dataset.pipeline or test_pipeline).')
    return pipeline


def pipeline_steps(pipeline: Sequence[dict]) -> List[dict]:
    """The resize/crop steps of a test pipeline.

    Raises:
        ValueError: a transform with no deployment equivalent (named), or
            an unsupported option of a supported one.
    """
    steps: List[dict] = []
    for t in pipeline:
        kind = t['type'] if isinstance(t['type'], str) else t['type'].__name__
        kind = kind.split('.')[-1]
        if kind in {k.split('.')[-1] for k in _SKIPPED}:
            continue
        interp = t.get('interpolation', 'bilinear')
        if t.get('backend', 'cv2') != 'cv2':
            raise ValueError(
                f'{kind}: only backend="cv2" is supported, got '
                f'{t.get("backend")!r}; set backend=\'cv2\' in the test '
                'pipeline (the deployed resize is OpenCV\'s, as the host '
                'replays it; pillow resizes differ by up to a few grey '
                'levels)')
        if kind == 'ResizeEdge':
            steps.append(dict(op='resize_edge', scale=int(t['scale']),
                              edge=t.get('edge', 'short'),
                              interpolation=interp))
        elif kind == 'Resize' and t.get('scale', None) is not None:
            steps.append(dict(op='resize', scale=list(_pair(t['scale'],
                                                            'scale')),
                              keep_ratio=bool(t.get('keep_ratio', False)),
                              interpolation=interp))
        elif kind == 'Pad':
            steps.append(_pad_step(t))
        elif kind == 'CenterCrop':
            if t.get('auto_pad', False):
                raise ValueError('CenterCrop(auto_pad=True) is not supported')
            steps.append(dict(op='center_crop',
                              crop_size=list(_pair(t['crop_size'],
                                                   'crop_size'))))
        else:
            raise ValueError(
                f'Test-pipeline transform {kind!r} has no deployment '
                'equivalent; supported: ResizeEdge, Resize(scale=...), '
                f'CenterCrop, Pad, and the loading/packing transforms '
                f'{sorted(_SKIPPED)}.')
    return steps


def _pad_step(t: dict) -> dict:
    """mmdet's/mmcv's ``Pad`` of the ``uint8`` image (before the data
    preprocessor normalizes it) as a step: to a fixed ``size`` (w, h), to a
    square, or to a ``size_divisor``, with ``value`` per channel."""
    if t.get('padding_mode', 'constant') != 'constant':
        raise ValueError(f"Pad: only padding_mode='constant' is supported, "
                         f"got {t.get('padding_mode')!r}")
    value = t.get('pad_val', 0)
    if isinstance(value, dict):
        value = value.get('img', 0)
    value = [float(value)] * 3 if isinstance(value, (int, float)) else [
        float(v) for v in value]
    if len(value) != 3:
        raise ValueError(f'Pad: pad_val for the image must be a number or 3 '
                         f"numbers, got {t.get('pad_val')!r}")
    size = t.get('size', None)
    return dict(op='pad', size=None if size is None else list(
        _pair(size, 'Pad size')), square=bool(t.get('pad_to_square', False)),
        size_divisor=int(t.get('size_divisor', None) or 0), value=value)


def pad_target(hw: Tuple[int, int], step: dict) -> Tuple[int, int]:
    """The ``(h, w)`` a ``pad`` step pads an image of ``hw`` to: mmdet's
    ``Pad`` rule (square first; then the size divisor, else the fixed
    size)."""
    h, w = hw
    if step['square']:
        h = w = max(h, w)
    d = step['size_divisor']
    if d:
        return -(-h // d) * d, -(-w // d) * d
    if step['size'] is not None:
        return step['size'][1], step['size'][0]
    return h, w


def preprocess_spec(cfg: Config, task: 'DeployTask') -> dict:
    """Mean, std, colour order, padding and resize steps of the test path.

    The padding rule is the task's (mmseg pads test images through
    ``data_preprocessor.test_cfg``, mmdet through ``pad_size_divisor``).
    """
    pre = data_preprocessor(cfg)
    to_rgb = bool(pre.get('to_rgb', pre.get('bgr_to_rgb', False)))
    mean = pre.get('mean', None)
    std = pre.get('std', None)
    if mean is None or std is None:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    steps = pipeline_steps(_test_pipeline(cfg))
    return dict(mean=[float(v) for v in mean], std=[float(v) for v in std],
                color_order='RGB' if to_rgb else 'BGR', steps=steps,
                pad_size_divisor=task.pad_size_divisor(pre),
                pad_value=float(pre.get('pad_value', pre.get('pad_val', 0))
                                or 0))


def rescale_crop(steps: List[dict], shape: Tuple[int, int]) -> List[dict]:
    """The steps for input ``shape`` (h, w) when they end in a centre crop.

    The crop becomes ``shape`` and the resizes before it grow by the same
    factor (224 -> 256 becomes e.g. 288 -> 329), as a classifier's test
    pipeline scales.

    Example:
        >>> rescale_crop([dict(op='resize_edge', scale=256, edge='short',
        ...                    interpolation='bilinear'),
        ...               dict(op='center_crop', crop_size=[224, 224])],
        ...              (288, 288))[0]['scale']
        329
    """
    h, w = shape
    out = []
    for step in steps:
        step = dict(step)
        if step['op'] == 'center_crop':
            ratio = h / step['crop_size'][1]
            step['crop_size'] = [w, h]
            for prev in out:
                if prev['op'] == 'resize_edge':
                    prev['scale'] = int(round(prev['scale'] * ratio))
                elif prev['op'] == 'resize':
                    prev['scale'] = [int(round(s * ratio))
                                     for s in prev['scale']]
        out.append(step)
    return out


def rescale_fit(steps: List[dict], shape: Tuple[int, int]) -> List[dict]:
    """The steps for input ``shape`` (h, w): every ``resize`` to ``shape``
    (a keep-ratio one then fits the image into it), as detectors and
    segmentors scale."""
    h, w = shape
    out = []
    for step in steps:
        step = dict(step)
        if step['op'] == 'resize':
            step['scale'] = [w, h]
        elif step['op'] == 'pad' and step['size'] is not None:
            step['size'] = [w, h]  # a fixed Pad follows the resize
        out.append(step)
    return out


def default_shape(steps: List[dict]) -> Optional[Tuple[int, int]]:
    """The (h, w) the test pipeline produces, if it fixes one."""
    for step in reversed(steps):
        if step['op'] == 'pad' and step['size'] is not None:
            return step['size'][1], step['size'][0]
        if step['op'] == 'center_crop':
            return step['crop_size'][1], step['crop_size'][0]
        if step['op'] == 'resize':
            w, h = step['scale']
            return (h, w) if not step['keep_ratio'] or w == h else (
                min(w, h), max(w, h))
    return None


def export_preprocess(cfg: Config, task: 'DeployTask',
                      shape: Optional[Tuple[int, int]] = None
                      ) -> Tuple[dict, Tuple[int, int]]:
    """``deploy.json``'s ``preprocess`` and the IR's input size (h, w).

    Args:
        cfg (Config): The model's config.
        task (DeployTask): Its task (padding and rescaling rules).
        shape (tuple, optional): A requested input size; the steps are
            rescaled to it by the task's rule. Defaults to the size the test
            pipeline produces.

    Raises:
        ValueError: an unsupported test pipeline, or no ``shape`` for a
            pipeline that fixes none.
    """
    pre = preprocess_spec(cfg, task)
    if shape is None:
        shape = default_shape(pre['steps'])
        if shape is None:
            raise ValueError('The test pipeline fixes no input size; pass '
                             '--shape H W.')
    else:
        pre['steps'] = task.rescale_steps(pre['steps'], tuple(shape))
    return pre, tuple(int(s) for s in shape)


def input_spec(pre: dict, shape: Tuple[int, int], dynamic: bool,
               form: str = 'uint8') -> dict:
    """``deploy.json``'s description of the IR's image input.

    Args:
        pre (dict): :func:`export_preprocess`'s ``preprocess``.
        shape (tuple): The export size (h, w).
        dynamic (bool): Dynamic batch, height and width.
        form (str): One of :data:`INPUT_FORMS`.

    Returns:
        dict: ``name``, ``shape``, ``dynamic``, ``export_size``, ``layout``,
        ``dtype``, ``color_order`` (of the tensor the IR takes) and
        ``preprocess_in_graph`` (the steps the IR does, in order).

    Example:
        >>> pre = dict(color_order='RGB', pad_size_divisor=32)
        >>> spec = input_spec(pre, (224, 224), dynamic=False)
        >>> spec['shape'], spec['dtype'], spec['color_order']
        ([1, 224, 224, 3], 'uint8', 'BGR')
        >>> input_spec(pre, (224, 224), False, 'float')['shape']
        [1, 3, 224, 224]
    """
    from .graph_preprocess import graph_steps
    if form not in INPUT_FORMS:
        raise ValueError(f'input form must be one of {list(INPUT_FORMS)}, '
                         f'got {form!r}')
    h, w = shape
    spec = dict(name='input', dynamic=dynamic, export_size=[h, w])
    if form in ('uint8', 'image'):
        spec.update(shape=[-1, -1, -1, 3] if dynamic else [1, h, w, 3],
                    layout='NHWC', dtype='uint8', color_order='BGR',
                    preprocess_in_graph=graph_steps(
                        pre, dynamic, resize=form == 'image'))
    else:
        spec.update(shape=[-1, 3, -1, -1] if dynamic else [1, 3, h, w],
                    layout='NCHW', dtype='float32',
                    color_order=pre['color_order'], preprocess_in_graph=[])
    return spec


def in_graph(meta: dict) -> List[str]:
    """The preprocessing steps the IR of ``meta`` does itself (none for the
    float form and for exports older than the ``uint8`` form)."""
    return list(meta['input'].get('preprocess_in_graph', None) or [])


# ----------------------------------------------------------------- reader


def _decode_file(path: str) -> np.ndarray:
    """Decode ``path`` as BGR after :func:`.image_file.check_image_file`,
    within the process's pixel budget of decodes."""
    from .image_file import (DECODES, check_image_file, decode_failure,
                             is_truncated_jpeg)
    size = check_image_file(path)
    with DECODES.reserve(size[0] * size[1] if size else 1):
        try:
            img = mmcv.imread(path, flag='color', channel_order='bgr')
        except Exception as e:  # noqa: BLE001  (cv2/pillow raise anything)
            raise ValueError(f'Cannot decode image {path!r}: {e}') from e
    if img is None:
        raise ValueError(f'Cannot decode image {path!r}: '
                         f'{decode_failure(path)}')
    if is_truncated_jpeg(path):
        raise ValueError(f'Cannot decode image {path!r}: '
                         f'{decode_failure(path)}')
    return img


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
        return _decode_file(str(image))
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
        elif op == 'pad':
            img = mmcv.impad(img, shape=_pad_shape((h, w), step),
                             pad_val=tuple(step['value']))
        else:
            raise ValueError(f'Unknown preprocessing step {op!r}')
        if op not in ('center_crop', 'pad'):
            nh, nw = img.shape[:2]
            w_scale, h_scale = w_scale * nw / w, h_scale * nh / h
    return img, (w_scale, h_scale), offset


def _pad_shape(hw: Tuple[int, int], step: dict) -> Tuple[int, int]:
    """:func:`pad_target`, refusing an image larger than a fixed size."""
    target = pad_target(hw, step)
    if target[0] < hw[0] or target[1] < hw[1]:
        raise ValueError(
            f'an image of {hw[0]}x{hw[1]} pixels after the resize does not '
            f'fit the test pipeline\'s Pad to {target[0]}x{target[1]}; '
            'allowed: a Resize before the Pad that fits it')
    return target


def host_steps(steps: List[dict], graph: Sequence[str]) -> List[dict]:
    """The steps the host replays: all but a ``pad`` the IR does itself
    (``pad_image`` in ``input.preprocess_in_graph``)."""
    if 'pad_image' not in graph:
        return list(steps)
    return [s for s in steps if s['op'] != 'pad']


def graph_resize_step(steps: List[dict]) -> Optional[str]:
    """Why ``steps`` cannot be the graph's resize (``--input image``), or
    None if they can: one ``resize`` (keep-ratio or not), bilinear."""
    if len(steps) != 1 or steps[0]['op'] != 'resize':
        return (f'the test pipeline must be one Resize, got '
                f'{[s["op"] for s in steps]}')
    if steps[0]['interpolation'] != 'bilinear':
        return (f"its Resize must be bilinear, got "
                f"{steps[0]['interpolation']!r}")
    return None


def resized_shape(hw: Tuple[int, int], steps: List[dict]
                  ) -> Tuple[Tuple[int, int], Tuple[float, float]]:
    """``(h, w)`` of an image of size ``hw`` after the one resize of
    ``steps`` (see :func:`graph_resize_step`), and ``(w_scale, h_scale)``:
    what :func:`apply_steps` gives, without resizing."""
    h, w = hw
    step = steps[0]
    if step['keep_ratio']:
        nw, nh = mmcv.rescale_size((w, h), tuple(step['scale']))
    else:
        nw, nh = step['scale']
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
        if step['op'] == 'pad' and 'pad_image' in graph:
            # The IR pads; mmdet's Pad makes the padded size the img_shape.
            img_shape = _pad_shape(img_shape, step)
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
            decode at 1/2, 1/4 or 1/8 size (:mod:`~mmlcnetv2.deploy.decode`);
            the results stay in original-image coordinates.

    Returns:
        dict: ``input``, what the IR takes (``uint8 [1, H, W, 3]`` BGR, or
        ``float32 [1, 3, H, W]`` for the float form: ``meta['input']``),
        ``img_shape`` (h, w before padding), ``scale`` (w, h), crop
        ``offset`` (x, y) and ``ori_shape`` (h, w of the image).
    """
    pre, fit, graph = meta['preprocess'], input_fit(meta), in_graph(meta)
    if fast_decode and not isinstance(image, np.ndarray):
        from .decode import decode_for_steps
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
