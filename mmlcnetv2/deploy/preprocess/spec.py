# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The writer of ``deploy.json``'s preprocessing (export time): the
config's test pipeline becomes a short list of plain steps (the table of
:mod:`.steps`) plus the data preprocessor's mean, std, colour order and
padding. A transform without a deployment meaning is refused at export
time, by name. The reader (image -> the IR's input) is :mod:`.host`.

Host or graph (:func:`input_spec`, ``deploy.json``'s ``input``): the default
export (``input.dtype`` ``uint8``) takes the resized and cropped ``uint8``
image, ``NHWC``, BGR as OpenCV decodes it, and does the conversion to float,
the colour order, the normalization, the layout and (dynamic IRs) the
padding inside (:mod:`.graph`, recorded as ``input.preprocess_in_graph``);
the host replays the resize and crop steps only, because their output size
depends on the image. The ``float`` form (``tools/deploy.py --input
float``, and every export before it) takes the normalized, padded
``float32 [B, 3, H, W]`` tensor and the host does all. The ``image`` form
(``--input image``, dynamic detectors and segmentors whose pipeline is one
resize) takes the decoded image as it is and resizes inside too, to the
``img_shape`` the host computes from the image size (``resize`` in
``input.preprocess_in_graph``).

Example:
    >>> pre, shape = export_preprocess(cfg, get_task('classification'))
    ... # doctest: +SKIP
"""
from typing import Any, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ...names import INPUT_FORMS
from .steps import STEPS, CenterCrop, Resize

# Transforms that load, annotate or pack: nothing to replay at inference.
SKIPPED = ('LoadImageFromFile', 'LoadAnnotations', 'PackInputs',
           'PackDetInputs', 'PackSegInputs', 'mmdet.LoadAnnotations',
           'mmdet.PackDetInputs', 'CheckSegMap')
#: transform type -> its step.
BY_TRANSFORM = {step.transform: step for step in STEPS.values()}


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
    """The resize/crop/pad steps of a test pipeline.

    Raises:
        ValueError: a transform with no deployment equivalent (named), or
            an unsupported option of a supported one.
    """
    skipped = {k.split('.')[-1] for k in SKIPPED}
    steps: List[dict] = []
    for t in pipeline:
        kind = t['type'] if isinstance(t['type'], str) else t['type'].__name__
        kind = kind.split('.')[-1]
        if kind in skipped:
            continue
        if t.get('backend', 'cv2') != 'cv2':
            raise ValueError(
                f'{kind}: only backend="cv2" is supported, got '
                f'{t.get("backend")!r}; set backend=\'cv2\' in the test '
                'pipeline (the deployed resize is OpenCV\'s, as the host '
                'replays it; pillow resizes differ by up to a few grey '
                'levels)')
        step = BY_TRANSFORM[kind].from_transform(t) \
            if kind in BY_TRANSFORM else None
        if step is None:
            supported = ', '.join(s.supported for s in STEPS.values())
            raise ValueError(
                f'Test-pipeline transform {kind!r} has no deployment '
                f'equivalent; supported: {supported}, and the '
                f'loading/packing transforms {sorted(set(SKIPPED))}.')
        steps.append(step)
    return steps


def preprocess_spec(cfg: Config, task: Any) -> dict:
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
    pipeline scales (:meth:`.steps.Step.scaled`).

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
        if step['op'] == CenterCrop.op:
            ratio = h / step['crop_size'][1]
            out = [STEPS[prev['op']].scaled(prev, ratio) for prev in out]
            step = dict(step, crop_size=[w, h])
        out.append(dict(step))
    return out


def rescale_fit(steps: List[dict], shape: Tuple[int, int]) -> List[dict]:
    """The steps for input ``shape`` (h, w) by each step's fitting rule
    (:meth:`.steps.Step.fit`: every ``resize`` to ``shape``, a keep-ratio
    one then fits the image into it; a fixed ``pad`` follows), as
    detectors and segmentors scale."""
    return [dict(STEPS[step['op']].fit(step, shape)) for step in steps]


def default_shape(steps: List[dict]) -> Optional[Tuple[int, int]]:
    """The (h, w) the test pipeline produces, if it fixes one: the last
    step that fixes a size (:meth:`.steps.Step.fixed_shape`)."""
    for step in reversed(steps):
        shape = STEPS[step['op']].fixed_shape(step)
        if shape is not None:
            return shape
    return None


def export_preprocess(cfg: Config, task: Any,
                      shape: Optional[Tuple[int, int]] = None
                      ) -> Tuple[dict, Tuple[int, int]]:
    """``deploy.json``'s ``preprocess`` and the IR's input size (h, w).

    Args:
        cfg (Config): The model's config.
        task (DeployTask): Its task (padding and rescaling rules; the
            tasks import this module, so it is not imported here).
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
    from .graph import graph_steps
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


def graph_resize_step(steps: List[dict]) -> Optional[str]:
    """Why ``steps`` cannot be the graph's resize (``--input image``), or
    None if they can: one ``resize`` (keep-ratio or not), bilinear."""
    if len(steps) != 1 or steps[0]['op'] != Resize.op:
        return (f'the test pipeline must be one Resize, got '
                f'{[s["op"] for s in steps]}')
    if steps[0]['interpolation'] != 'bilinear':
        return (f"its Resize must be bilinear, got "
                f"{steps[0]['interpolation']!r}")
    return None
