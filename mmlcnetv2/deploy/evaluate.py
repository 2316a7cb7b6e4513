# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Evaluate an exported IR on a config's test set with the config's own
evaluator (mmpretrain ``Accuracy``, mmdet ``CocoMetric``, mmseg
``IoUMetric``), optionally measuring how often it agrees with another IR.

The ground truth comes from the config's test dataset and pipeline exactly
as ``tools/test.py`` sees it; the predictions come from
:class:`OpenVINOInferencer` on the original image files, so the numbers
cover the whole deployed path (preprocessing, IR, mapping back).
"""
import copy
from typing import Dict, List, Optional

import numpy as np
from mmengine.config import Config

from .inferencer import OpenVINOInferencer


def _test_set(cfg: Config, limit: Optional[int]):
    """The config's test dataset and how many of its images to use."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loader = cfg.get('test_dataloader', None)
    if not loader or 'dataset' not in loader:
        raise ValueError('The config has no test_dataloader.dataset to '
                         'evaluate on.')
    dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise ValueError('The test dataset is empty.')
    return dataset, n


def _inferencers(dirs: List[str], precision_hint: Optional[str]
                 ) -> List[OpenVINOInferencer]:
    """One inferencer per export folder, all of the same task."""
    inferencers = [OpenVINOInferencer(d, precision_hint=precision_hint)
                   for d in dirs]
    first = inferencers[0]
    for d, inf in zip(dirs, inferencers):
        if inf.deploy_task is not first.deploy_task:
            raise ValueError(f'{d!r} is a {inf.task} export, {dirs[0]!r} a '
                             f'{first.task} one: they cannot be compared.')
    return inferencers


def evaluate_ir(model_dir: str,
                cfg: Config,
                compare_dir: Optional[str] = None,
                precision_hint: Optional[str] = 'f32',
                limit: Optional[int] = None,
                progress: bool = True) -> Dict:
    """Metrics of an export on ``cfg.test_dataloader.dataset``.

    Args:
        model_dir (str): An export directory of ``tools/deploy.py``.
        cfg (Config): The model's config (its test dataset and evaluator).
        compare_dir (str, optional): Another export of the same model (e.g.
            the f32 one when ``model_dir`` is int8): also report how often
            the two agree.
        precision_hint (str, optional): For both IRs. Defaults to ``'f32'``
            so that differences come from the IRs, not from bf16.
        limit (int, optional): Only the first ``limit`` test images
            (classification and segmentation).
        progress (bool): Show a progress bar.

    Returns:
        dict: ``metrics`` (the evaluator's), ``images``, and with
        ``compare_dir`` ``compare_metrics`` and ``agreement`` (mean).
    """
    from mmengine.evaluator import Evaluator
    from tqdm import tqdm

    dataset, n = _test_set(cfg, limit)
    inferencers = _inferencers(
        [model_dir] + ([compare_dir] if compare_dir else []), precision_hint)
    task = inferencers[0].deploy_task
    if task.whole_test_set and n != len(dataset):
        raise ValueError(f'limit={limit} cannot be used for {task.name}: '
                         f'{task.whole_test_set}; evaluate the whole test '
                         'set.')
    evaluators = []
    for _ in inferencers:
        evaluator = Evaluator(copy.deepcopy(cfg.test_evaluator))
        evaluator.dataset_meta = dataset.metainfo
        evaluators.append(evaluator)
    agreements = []
    for i in tqdm(range(n), disable=not progress, unit='img',
                  desc='evaluate'):
        sample = dataset[i]['data_samples']
        results = [inf(sample.img_path) for inf in inferencers]
        for result, evaluator in zip(results, evaluators):
            s = copy.deepcopy(sample)
            task.to_data_sample(s, result)
            evaluator.process(data_samples=[s.to_dict()])
        if len(results) == 2:
            agreements.append(task.agreement(results[0], results[1]))
    out = dict(task=task.name, images=n, metrics=evaluators[0].evaluate(n))
    if compare_dir:
        out['compare_metrics'] = evaluators[1].evaluate(n)
        out['agreement'] = float(np.concatenate(agreements).mean())
    return out
