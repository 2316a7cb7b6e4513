# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``deploy.json``: what inference needs besides the IR, read from a config.

The config's test pipeline is translated into a short list of plain steps
(``resize_edge``, ``resize``, ``center_crop``) that
:class:`~mmlcnetv2.deploy.OpenVINOInferencer` replays with the same mmcv image
functions the OpenMMLab transforms call, then normalization and padding as
the data preprocessor does them. A transform without a deployment meaning
is refused at export time, by name.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .schema import FORMAT, FORMAT_VERSION  # noqa: F401  (re-exported)

TASKS = {'mmpretrain': 'classification', 'mmdet': 'detection',
         'mmseg': 'segmentation'}
# Transforms that load, annotate or pack: nothing to replay at inference.
_SKIPPED = {'LoadImageFromFile', 'LoadAnnotations', 'PackInputs',
            'PackDetInputs', 'PackSegInputs', 'mmdet.LoadAnnotations',
            'mmdet.PackDetInputs', 'CheckSegMap'}


def task_of(cfg: Config) -> str:
    """``classification``, ``detection`` or ``segmentation`` from the scope.

    Example:
        >>> task_of(Config(dict(default_scope='mmdet')))
        'detection'
    """
    scope = cfg.get('default_scope', None)
    if scope not in TASKS:
        raise ValueError(
            f'Cannot tell the task of a config with default_scope={scope!r}; '
            f'expected one of {sorted(TASKS)} (mmpretrain classifier, mmdet '
            'detector, mmseg segmentor).')
    return TASKS[scope]


def _pair(value, name: str) -> Tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f'{name} must be an int or (w, h), got {value!r}')


def _data_preprocessor(cfg: Config) -> dict:
    # mmpretrain configs keep it at the top level; mmdet/mmseg in the model.
    pre = dict(cfg.get('data_preprocessor', None) or {})
    pre.update(cfg.model.get('data_preprocessor', None) or {})
    return pre


def preprocess_spec(cfg: Config, task: str) -> dict:
    """Mean, std, colour order, padding and resize steps of the test path."""
    pre = _data_preprocessor(cfg)
    to_rgb = bool(pre.get('to_rgb', pre.get('bgr_to_rgb', False)))
    mean = pre.get('mean', None)
    std = pre.get('std', None)
    if mean is None or std is None:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    pipeline = (cfg.get('test_dataloader', None) or cfg.get(
        'val_dataloader', None) or {}).get('dataset', {}).get('pipeline', None)
    if pipeline is None:
        pipeline = cfg.get('test_pipeline', None)
    if pipeline is None:
        raise ValueError('The config has no test pipeline (test_dataloader.'
                         'dataset.pipeline or test_pipeline).')
    steps: List[dict] = []
    for t in pipeline:
        kind = t['type'] if isinstance(t['type'], str) else t['type'].__name__
        kind = kind.split('.')[-1]
        if kind in {k.split('.')[-1] for k in _SKIPPED}:
            continue
        interp = t.get('interpolation', 'bilinear')
        if t.get('backend', 'cv2') != 'cv2':
            raise ValueError(f'{kind}: only backend="cv2" is supported, got '
                             f'{t.get("backend")!r}')
        if kind == 'ResizeEdge':
            steps.append(dict(op='resize_edge', scale=int(t['scale']),
                              edge=t.get('edge', 'short'),
                              interpolation=interp))
        elif kind == 'Resize' and t.get('scale', None) is not None:
            steps.append(dict(op='resize', scale=list(_pair(t['scale'],
                                                            'scale')),
                              keep_ratio=bool(t.get('keep_ratio', False)),
                              interpolation=interp))
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
                f'CenterCrop, and the loading/packing transforms '
                f'{sorted(_SKIPPED)}.')
    if task == 'segmentation':
        # mmseg pads test images only through data_preprocessor.test_cfg
        # (size / size_divisor are for training batches).
        test_cfg = pre.get('test_cfg', None) or {}
        if test_cfg.get('size', None) is not None:
            raise ValueError('data_preprocessor.test_cfg.size (pad test '
                             'images to a fixed size) is not supported; use '
                             '--shape H W for a fixed input size.')
        divisor = int(test_cfg.get('size_divisor', 0) or 0)
    else:
        divisor = int(pre.get('pad_size_divisor', 0) or 0)
    return dict(mean=[float(v) for v in mean], std=[float(v) for v in std],
                color_order='RGB' if to_rgb else 'BGR', steps=steps,
                pad_size_divisor=divisor,
                pad_value=float(pre.get('pad_value', pre.get('pad_val', 0))
                                or 0))


def rescale_steps(steps: List[dict], shape: Tuple[int, int],
                  task: str) -> List[dict]:
    """The steps adapted to a requested input ``shape`` (h, w).

    Classification: the centre crop becomes ``shape`` and the resize grows by
    the same factor (224 -> 256 becomes e.g. 288 -> 329). Detection and
    segmentation: a keep-ratio resize to fit ``shape``.
    """
    h, w = shape
    out = []
    for step in steps:
        step = dict(step)
        if task == 'classification' and step['op'] == 'center_crop':
            ratio = h / step['crop_size'][1]
            step['crop_size'] = [w, h]
            for prev in out:
                if prev['op'] == 'resize_edge':
                    prev['scale'] = int(round(prev['scale'] * ratio))
                elif prev['op'] == 'resize':
                    prev['scale'] = [int(round(s * ratio))
                                     for s in prev['scale']]
        elif task != 'classification' and step['op'] == 'resize':
            step['scale'] = [w, h]
        out.append(step)
    return out


def default_shape(steps: List[dict], task: str) -> Optional[Tuple[int, int]]:
    """The (h, w) the test pipeline produces, if it fixes one."""
    for step in reversed(steps):
        if step['op'] == 'center_crop':
            return step['crop_size'][1], step['crop_size'][0]
        if step['op'] == 'resize':
            w, h = step['scale']
            return (h, w) if not step['keep_ratio'] or w == h else (
                min(w, h), max(w, h))
    return None


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
    if scope not in TASKS:
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


def save_meta(meta: Dict, path: str) -> None:
    """Write ``deploy.json``, the last file of an export folder.

    Adds (also to ``meta``) the format marker and ``files``: the files in
    ``path``'s folder plus ``deploy.json``, i.e. what the export owns and a
    later export into the same folder may replace.
    """
    folder = osp.dirname(osp.abspath(path))
    meta['format'] = FORMAT
    meta['files'] = sorted(set(os.listdir(folder)) | {osp.basename(path)})
    with open(path, 'w') as f:
        json.dump(meta, f, indent=2)
