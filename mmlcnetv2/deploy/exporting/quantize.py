# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""INT8 post-training quantization with NNCF on train-set images, each
prepared as inference prepares it
(:func:`mmlcnetv2.deploy.preprocess.host.prepare`).

What stays float is the task's (:attr:`~mmlcnetv2.deploy.tasks.base.
DeployTask.int8_float_from`): a detector's head and everything after it
(decoding, NMS) keep float, as NNCF's ``IgnoredScope``
(:func:`float_scope`); int8 of the whole shapes RetinaNet took its bbox
mAP from .296 to .196 (issue 30).
"""
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config

from ..ir_inputs import ir_feed
from ..preprocess.host import prepare
from ..tasks import get_task


def calibration_images(cfg: Config, count: int) -> List:
    """The first ``count`` image paths (or arrays) of the train dataset.

    The dataset is built with an empty pipeline: calibration must see images
    as inference will (the test path), not the training augmentation.
    """
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loader = cfg.get('train_dataloader', None)
    if not loader or 'dataset' not in loader:
        raise ValueError('--precision int8 calibrates on the config\'s '
                         'train_dataloader, which this config lacks.')
    dataset_cfg = dict(loader['dataset'])
    _strip_pipelines(dataset_cfg)
    dataset = DATASETS.build(dataset_cfg)
    n = min(count, len(dataset))
    if n == 0:
        raise ValueError('The train dataset is empty: nothing to calibrate '
                         'on.')
    out = []
    for i in range(n):
        info = dataset.get_data_info(i)
        image = info.get('img_path', None) or info.get('img', None)
        if image is None:
            raise ValueError(f'Train sample {i} has neither img_path nor img')
        if not isinstance(image, str):
            image = np.asarray(image)
            if image.ndim == 3 and image.shape[0] in (1, 3):  # CHW tensors
                image = image.transpose(1, 2, 0)
        out.append(image)
    return out


def _strip_pipelines(dataset_cfg: dict) -> None:
    """Empty the pipeline of a dataset (and of wrapped datasets)."""
    if 'pipeline' in dataset_cfg:
        dataset_cfg['pipeline'] = []
    for key in ('dataset', 'datasets'):
        inner = dataset_cfg.get(key, None)
        if isinstance(inner, dict):
            dataset_cfg[key] = dict(inner)
            _strip_pipelines(dataset_cfg[key])
        elif isinstance(inner, (list, tuple)):
            dataset_cfg[key] = [dict(d) for d in inner]
            for d in dataset_cfg[key]:
                _strip_pipelines(d)


def calibration_inputs(images: List, meta: dict,
                       ov_model) -> Iterator[object]:
    """The IR's inputs for ``images``, prepared as inference prepares them
    and assembled by the inferencer's rule (:func:`~mmlcnetv2.deploy.
    ir_inputs.ir_feed`): the image, and for an IR with an ``img_shape``
    input (a detector's, or the one a graph resize adds) its ``img_shape``;
    a list in the IR's input order (the image alone for one input)."""
    for image in images:
        info = prepare(image, meta)
        feed = ir_feed(ov_model.inputs, info['input'], [info['img_shape']])
        ordered = [feed[i] for i in sorted(feed)]
        yield ordered if len(ordered) > 1 else ordered[0]


def float_tail(ov_model, modules: Sequence[str]) -> List[str]:
    """The ops of ``modules`` and every op that depends on one of them.

    Args:
        ov_model: The ``ov.Model`` converted from the task's export wrapper.
        modules (Sequence[str]): Module paths in the wrapper (e.g.
            ``'detector.bbox_head'``); the converter names each op after
            the module that ran it (``__module.detector.bbox_head.
            retina_cls/aten::_convolution/Convolution``).

    Returns:
        Their friendly names, in graph order; empty if no op belongs to
        ``modules``.
    """
    prefixes = tuple(f'__module.{m}{end}' for m in modules for end in './')
    tail = set()  # unique node names (friendly names need not be)
    names = []
    for op in ov_model.get_ordered_ops():  # topological: inputs first
        if op.get_friendly_name().startswith(prefixes) or any(
                i.get_source_output().get_node().get_name() in tail
                for i in op.inputs()):
            tail.add(op.get_name())
            names.append(op.get_friendly_name())
    return names


def float_scope(ov_model, modules: Sequence[str]):
    """NNCF's ``IgnoredScope`` that keeps :func:`float_tail` float, or
    None when ``modules`` is empty.

    Raises:
        ValueError: no op of the graph belongs to ``modules`` (the
            converter named them otherwise: nothing would stay float).
    """
    if not modules:
        return None
    import nncf
    names = float_tail(ov_model, modules)
    if not names:
        raise ValueError(f'int8: no op of the graph belongs to {list(modules)}'
                         ', which should stay float')
    # validate=False: Result nodes and If bodies are not all in NNCF's
    # graph; the ops NNCF would quantize are.
    return nncf.IgnoredScope(names=names, validate=False)


def quantize_with_calibration(
        ov_model, cfg: Config, meta: dict, count: int,
        keep_float: Optional[Sequence[str]] = None,
        preset: str = 'performance') -> Tuple[object, dict]:
    """NNCF post-training quantization: the default (performance) preset
    with NNCF's full bias correction instead of its fast one, the task's
    :attr:`~mmlcnetv2.deploy.tasks.base.DeployTask.int8_float_from` kept
    float.

    Full bias correction re-measures each layer's output mean on the
    calibration set after the layers before it are quantized. On the
    digits classifier it raised top-1 agreement with f32 from 98.89 % (fast
    correction) to 99.72 %, at a longer calibration; inference speed is the
    same. NNCF cannot run it on graphs with ``If`` nodes (the detection
    export's NMS tail has them); those keep the fast correction. For
    detection the head, the decoding and the NMS stay float (with the
    head quantized the shapes demo lost 10 points of mAP).

    Args:
        ov_model: The float ``ov.Model``.
        cfg (Config): The model's config (its train set calibrates).
        meta (dict): The export's ``deploy.json`` content so far.
        count (int): Calibration images.
        keep_float (Sequence[str], optional): Modules that stay float with
            everything after them (:func:`float_tail`); None: the task's
            ``int8_float_from``; empty: whatever NNCF quantizes.
        preset (str): NNCF's ``QuantizationPreset``: ``'performance'``
            (symmetric activations) or ``'mixed'`` (asymmetric).

    Returns:
        The quantized model and a note for ``deploy.json``.
    """
    import nncf
    if keep_float is None:
        keep_float = get_task(meta['task']).int8_float_from
    images = calibration_images(cfg, count)
    dataset = nncf.Dataset(list(calibration_inputs(images, meta, ov_model)))
    full = not any(op.get_type_name() == 'If'
                   for op in ov_model.get_ordered_ops())
    kwargs = dict(ignored_scope=float_scope(ov_model, keep_float)) \
        if keep_float else {}
    quantized = nncf.quantize(
        ov_model, dataset, subset_size=len(images),
        preset=nncf.QuantizationPreset(preset),
        fast_bias_correction=not full, **kwargs)
    correction = 'full' if full else 'fast'
    return quantized, dict(method=f'nncf.quantize (post-training, {preset} '
                           f'preset, {correction} bias correction)',
                           images=len(images), source='train_dataloader',
                           float_from=list(keep_float))
