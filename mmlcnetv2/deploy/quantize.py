# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""INT8 post-training quantization with NNCF on train-set images, each
prepared as inference prepares it (:func:`mmlcnetv2.deploy.pipeline.prepare`).
"""
from typing import Iterator, List, Tuple

import numpy as np
from mmengine.config import Config

from .pipeline import prepare


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


def _inputs(images: List, meta: dict, ov_model) -> Iterator[object]:
    """The IR's inputs for ``images``, prepared as inference prepares them
    and assembled by the inferencer's rule (``OpenVINOInferencer.ir_inputs``):
    the image, and for an IR with a second input (a detector's, or the one a
    graph resize adds) its ``img_shape``."""
    second = len(ov_model.inputs) > 1
    for image in images:
        info = prepare(image, meta)
        yield [info['input'], np.array([info['img_shape']], np.float32)] \
            if second else info['input']


def quantize_with_calibration(ov_model, cfg: Config, meta: dict,
                              count: int) -> Tuple[object, dict]:
    """NNCF post-training quantization: the default (performance) preset
    with NNCF's full bias correction instead of its fast one.

    Full bias correction re-measures each layer's output mean on the
    calibration set after the layers before it are quantized. On the
    digits classifier it raised top-1 agreement with f32 from 98.89 % (fast
    correction) to 99.72 %, at a longer calibration; inference speed is the
    same. NNCF cannot run it on graphs with ``If`` nodes (the detection
    export's NMS tail has them); those keep the fast correction. For
    detection the NMS/decoding tail stays float: NNCF quantizes
    convolutions and matmuls only, so scores stay comparable.

    Returns:
        The quantized model and a note for ``deploy.json``.
    """
    import nncf
    images = calibration_images(cfg, count)
    dataset = nncf.Dataset(list(_inputs(images, meta, ov_model)))
    full = not any(op.get_type_name() == 'If'
                   for op in ov_model.get_ordered_ops())
    quantized = nncf.quantize(ov_model, dataset, subset_size=len(images),
                              fast_bias_correction=not full)
    correction = 'full' if full else 'fast'
    return quantized, dict(method='nncf.quantize (post-training, default '
                           f'preset, {correction} bias correction)',
                           images=len(images), source='train_dataloader')
