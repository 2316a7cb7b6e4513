# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The deployment tasks, one module each, and their table.

Everything task-specific of export and inference lives in a task's module:
its export graph (an OpenMMLab model as ``tensor in -> arrays out``), input
and output names, ``deploy.json`` fields, rescaling rule, post-processing,
data sample, agreement measure and drawing (see :class:`DeployTask`).
Every export graph takes the normalized ``float32 [B, 3, H, W]`` RGB/BGR
input the config's data preprocessor would produce (padding included) and
leaves no Python-side post-processing but the mapping back to the original
image; the exception is a detection export with ``nms='host'`` (for
plugins without ``NonMaxSuppression``), whose NMS the inferencer runs.
(The default IR puts the normalization in front of the export graph:
:mod:`~mmlcnetv2.deploy.preprocess.graph`.)

A task's own export options (:attr:`DeployTask.export_options`, such as
detection's ``nms``) reach it through :func:`configure_task`.

A config's task is the first of :data:`TASKS` whose
:meth:`DeployTask.matches` accepts it (:func:`task_of`).

Adding a task (say, instance segmentation): a module with a
:class:`DeployTask` subclass whose ``matches`` picks its configs, its name
in :data:`mmlcnetv2.names.TASKS`, and one entry in :data:`TASKS` below,
before any task that would also match its configs.

Example:
    >>> get_task('detection').input_names
    ('input', 'img_shape')
    >>> get_task('pose')
    Traceback (most recent call last):
    ...
    ValueError: task must be one of ['classification', 'detection', \
'segmentation'], got 'pose'
"""
from typing import Dict

from mmengine.config import Config

from .base import DeployTask
from .classification import ClassificationTask, ClassifierExport
from .detection import DetectionTask, DetectorExport
from .segmentation import SegmentationTask, SegmentorExport

#: name -> task, in the order :func:`task_of` asks them.
TASKS: Dict[str, DeployTask] = {
    task.name: task
    for task in (ClassificationTask(), DetectionTask(), SegmentationTask())
}


def get_task(name: str) -> DeployTask:
    """The task object of ``name`` (``deploy.json``'s ``task``).

    Raises:
        ValueError: ``name`` is not a task (names it and the known ones).
    """
    if name not in TASKS:
        raise ValueError(f'task must be one of {sorted(TASKS)}, got '
                         f'{name!r}')
    return TASKS[name]


def configure_task(name: str, **options) -> DeployTask:
    """The task ``name`` configured with export ``options``
    (``tools/deploy.py`` flags such as ``nms``); options that are None are
    not given.

    Example:
        >>> configure_task('detection', nms='host').output_names
        ('boxes', 'scores', 'labels')
        >>> configure_task('classification', nms='host')
        Traceback (most recent call last):
        ...
        ValueError: nms='host' applies to detection exports only; this \
config is a classification one (an mmpretrain classifier)

    Raises:
        ValueError: an option the task does not take (names it and the
            tasks that do), or a value it does not allow.
    """
    task = get_task(name)
    options = {k: v for k, v in options.items() if v is not None}
    for key, value in options.items():
        allowed = task.export_options.get(key, None)
        if allowed is None:
            takers = [t.name for t in TASKS.values()
                      if key in t.export_options]
            raise ValueError(
                f'{key}={value!r} applies to {" and ".join(takers)} exports '
                f'only; this config is a {task.name} one (an {task.scope} '
                f'{task.model_kind})')
        if value not in allowed:
            raise ValueError(f'{key} must be one of {list(allowed)}, got '
                             f'{value!r}')
    return task.with_options(**options) if options else task


def task_of(cfg: Config) -> str:
    """The task of a config: the first task of :data:`TASKS` that
    :meth:`~DeployTask.matches` it (by its ``default_scope``).

    Example:
        >>> task_of(Config(dict(default_scope='mmdet')))
        'detection'

    Raises:
        ValueError: the scope is not one of the tasks' (names it).
    """
    for task in TASKS.values():
        if task.matches(cfg):
            return task.name
    scope = cfg.get('default_scope', None)
    kinds = ', '.join(f'{t.scope} {t.model_kind}' for t in TASKS.values())
    raise ValueError(
        f'Cannot tell the task of a config with default_scope={scope!r}; '
        f'expected one of {sorted(t.scope for t in TASKS.values())} '
        f'({kinds}).')


def wrap_for_export(model, task: str):
    """The export graph of ``task`` around a built, eval-mode ``model``."""
    return get_task(task).wrap(model)


__all__ = [
    'DeployTask', 'TASKS', 'get_task', 'configure_task', 'task_of',
    'wrap_for_export',
    'ClassificationTask', 'DetectionTask', 'SegmentationTask',
    'ClassifierExport', 'DetectorExport', 'SegmentorExport'
]
