# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``deploy.json``: what inference needs besides the IR, read from a config
and the built model.

The preprocessing part is :mod:`mmlcnetv2.deploy.preprocess.spec`'s, the
task-dependent fields the task's (:mod:`mmlcnetv2.deploy.tasks`); this
module puts them together with the class names, input description,
precision, source and Model API form (:func:`build_meta`, once, before the
conversion), and adds what the later phases measured when it writes the
file (:func:`finish_meta`, once, last).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

from ...apis.build import SCOPES
from ..model_api.rt_info import MODEL_API_FILES
from ..model_api.self_contained import unsupported
from ..preprocess.spec import input_spec
from ..tasks import DeployTask
from .schema import FORMAT, FORMAT_VERSION

# What a static detection/segmentation export gives up, in deploy.json.
STATIC_TRADE = (
    'static input: every image is resized to fit {h}x{w} and padded to '
    '{h}x{w}, where the test pipeline pads only to the size divisor; the '
    'network (its global pools, FPN, head) sees that padding, so results '
    'equal torch only on images whose padded size is {h}x{w}; export '
    'without --static for the exact form (docs/deploy.md, "Static or '
    'dynamic")')


def build_meta(cfg: Config, model: torch.nn.Module, task: DeployTask,
               shape: Tuple[int, int], dynamic: bool, precision: str,
               preprocess: dict, config: str,
               checkpoint: Optional[str], input_form: str = 'uint8',
               model_api: Optional[bool] = None) -> dict:
    """The content of ``deploy.json`` as it is known before the conversion
    (:func:`finish_meta` adds the rest when it writes the file).

    Args:
        cfg (Config): The model's config (class names).
        model (nn.Module): The built model (class count, task fields).
        task (DeployTask): Its task.
        shape (tuple): The input size (h, w).
        dynamic (bool): Dynamic batch, height and width.
        precision (str): One of :data:`mmlcnetv2.names.EXPORT_PRECISIONS`.
        preprocess (dict): :func:`~mmlcnetv2.deploy.preprocess.spec.
            export_preprocess`'s.
        config (str): The config file, recorded as ``source``.
        checkpoint (str, optional): The checkpoint, recorded as ``source``.
        input_form (str): ``'uint8'`` (the IR preprocesses) or ``'float'``
            (:func:`~mmlcnetv2.deploy.preprocess.spec.input_spec`).
        model_api (bool, optional): The export's ``model_api`` option
            (:func:`model_api_record`).

    Raises:
        ValueError: ``model_api`` is True and the export has no
            self-contained form.
    """
    fields = task.meta_fields(model)
    inputs = input_spec(preprocess, shape, dynamic, input_form)
    if not dynamic and not task.fixed_input_shape:
        inputs['static_trade'] = STATIC_TRADE.format(h=shape[0], w=shape[1])
    meta = dict(
        format_version=FORMAT_VERSION,
        task=task.name,
        input=inputs,
        input_names=list(task.input_names),
        outputs=list(task.output_names),
        postprocess=fields['postprocess'],
        preprocess=preprocess,
        classes=class_names(cfg, task.num_classes(model)),
        score_threshold=fields['score_threshold'],
        max_per_img=fields['max_per_img'],
        precision=precision,
        source=dict(config=osp.abspath(config),
                    checkpoint=osp.abspath(checkpoint) if checkpoint else None),
    )
    meta['model_api'] = model_api_record(meta, model_api)
    return meta


def model_api_record(meta: dict, requested: Optional[bool]) -> dict:
    """``deploy.json``'s ``model_api``: ``file`` (``model_api.xml``, or
    None where it is not written) and ``why_not`` (one line, or None).
    By default the self-contained form is written wherever there is one;
    where it is not, ``deploy.json`` says why.

    Args:
        meta: The export's ``deploy.json`` content so far.
        requested: The export's ``model_api`` (None: wherever possible).

    Raises:
        ValueError: ``requested`` is True and there is no such form.
    """
    if requested is False:
        return dict(file=None, why_not='left out (--no-model-api)')
    why = unsupported(meta)
    if why and requested:
        raise ValueError(f'--model-api: {why}')
    if why:
        return dict(file=None, why_not=f'no self-contained form: it takes '
                    f'{why}')
    return dict(file=MODEL_API_FILES[0], why_not=None)


def _dataset_metainfo(cfg: Config, dataset: dict) -> dict:
    """``METAINFO`` of the dataset class a dataset config names.

    Looked up in the registry of the config's own OpenMMLab package
    (mmpretrain/mmdet/mmseg), where ``ImageNet``, ``CocoDataset``,
    ``ADE20KDataset`` & co. are registered; mmengine's root registry does not
    hold them. Only the class is read: no data files are needed.
    """
    import importlib
    kind = dataset.get('type', None)
    if not isinstance(kind, str):
        return dict(getattr(kind, 'METAINFO', None) or {})
    scope = cfg.get('default_scope', None)
    if scope not in SCOPES:
        return {}
    importlib.import_module(f'{scope}.datasets')  # registers the classes
    registry = importlib.import_module(f'{scope}.registry').DATASETS
    try:
        cls = registry.get(kind)
    except KeyError:  # a scope that is not installed: 'mmfoo.X'
        return {}
    return dict(getattr(cls, 'METAINFO', None) or {})


def _leaf_dataset(dataset: dict) -> dict:
    # Wrappers (RepeatDataset, ClassBalancedDataset, ...) hold the real one.
    while isinstance(dataset.get('dataset', None), dict) and \
            'metainfo' not in dataset:
        dataset = dataset['dataset']
    return dataset


def class_names(cfg: Config, num_classes: int) -> List[str]:
    """Class names from the config's dataset metainfo, else ``'0'..``.

    ``metainfo=dict(classes=...)`` in the dataset config wins over the
    dataset class's ``METAINFO``; names are kept only if there are exactly
    ``num_classes`` of them.
    """
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(key, None) or {}).get('dataset', None) or {}
        dataset = _leaf_dataset(dataset)
        classes = (dataset.get('metainfo', None) or {}).get('classes', None)
        if classes is None and dataset.get('type', None) is not None:
            classes = _dataset_metainfo(cfg, dataset).get('classes', None)
        if classes is not None and len(classes) == num_classes:
            return [str(c) for c in classes]
    return [str(i) for i in range(num_classes)]


def finish_meta(meta: Dict, path: str, **measured) -> Dict:
    """Finish ``deploy.json`` and write it, the last file of an export
    folder.

    Adds to ``meta`` what the later phases measured (``measured``: e.g.
    ``conversion_check``, ``calibration``, ``onnx_max_abs_diff``; None
    values are left out), the format marker and ``files``: the files in
    ``path``'s folder plus ``deploy.json``, i.e. what the export owns and a
    later export into the same folder may replace.

    Returns:
        dict: ``meta``, finished.
    """
    folder = osp.dirname(osp.abspath(path))
    meta.update((k, v) for k, v in measured.items() if v is not None)
    meta['format'] = FORMAT
    meta['files'] = sorted(set(os.listdir(folder)) | {osp.basename(path)})
    with open(path, 'w') as f:
        json.dump(meta, f, indent=2)
    return meta
