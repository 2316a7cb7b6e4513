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
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.config import Config

from ...errors import UserInputError
from .inferencer import OpenVINOInferencer


def _test_set(cfg: Config, limit: Optional[int]):
    """The config's test dataset and how many of its images to use."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loader = cfg.get('test_dataloader', None)
    if not loader or 'dataset' not in loader:
        raise UserInputError('The config has no test_dataloader.dataset to '
                             'evaluate on.')
    if not cfg.get('test_evaluator', None):
        raise UserInputError(
            'The config has no test_evaluator to score the test set with '
            "(e.g. test_evaluator = dict(type='Accuracy')); add one to the "
            'config')
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


# ---- a compiled model on a config's val set (accuracy-controlled INT8) ----


class EvalSet:
    """A config's val dataset and evaluator (else its test ones), to score
    compiled models on all or some of its images as :func:`evaluate_ir`
    does: original image -> deployed preprocessing -> IR -> mapping back ->
    the config's evaluator.

    Images and packed ground truth are kept in memory after first use:
    accuracy control scores dozens of candidates on the same images.

    Args:
        cfg (Config): The model's config.

    Example:
        >>> val = EvalSet(cfg)  # doctest: +SKIP
        >>> metrics, per_image = val.score(OpenVINOInferencer.from_compiled(c, meta),
        ...                                per_image=True)  # doctest: +SKIP
    """

    def __init__(self, cfg: Config) -> None:
        from mmengine.registry import DATASETS, init_default_scope
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        self.split = eval_split(cfg)
        if self.split is None:
            raise ValueError('The config has neither val_dataloader.dataset '
                             '+ val_evaluator nor test_dataloader.dataset + '
                             'test_evaluator to evaluate on.')
        loader = cfg[f'{self.split}_dataloader']
        self.dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
        if len(self.dataset) == 0:
            raise ValueError(f'The {self.split} dataset is empty.')
        self.evaluator_cfg = copy.deepcopy(cfg[f'{self.split}_evaluator'])
        self._items: Dict[int, tuple] = {}
        self._evaluators: Dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def _item(self, i: int) -> tuple:
        from ..preprocess.host import load_image
        if i not in self._items:
            sample = self.dataset[i]['data_samples']
            self._items[i] = sample, load_image(sample.img_path)
        return self._items[i]

    def _evaluator(self, key: str):
        # Built once: CocoMetric reads its annotation file when built.
        from mmengine.evaluator import Evaluator
        if key not in self._evaluators:
            evaluator = Evaluator(copy.deepcopy(self.evaluator_cfg))
            evaluator.dataset_meta = self.dataset.metainfo
            self._evaluators[key] = evaluator
        return self._evaluators[key]

    def _evaluate(self, evaluator, samples: list, subset: bool) -> Dict:
        for metric in evaluator.metrics:
            if hasattr(metric, 'img_ids') and hasattr(metric, '_coco_api'):
                # CocoMetric scores every image of its annotation file
                # unless told which: a subset is scored on its own images.
                metric.img_ids = [s['img_id'] for s in samples] \
                    if subset else None
        for s in samples:
            evaluator.process(data_samples=[s])
        return evaluator.evaluate(len(samples))

    def score(self, inferencer: OpenVINOInferencer,
              indices: Optional[List[int]] = None,
              per_image: bool = False) -> Tuple[Dict, Optional[List[Dict]]]:
        """The evaluator's metrics on images ``indices`` (default: all),
        and with ``per_image`` the metrics of each image on its own."""
        indices = list(range(len(self))) if indices is None else list(
            indices)
        samples = []
        for i in indices:
            sample, image = self._item(i)
            s = copy.deepcopy(sample)
            inferencer.deploy_task.to_data_sample(s, inferencer(image))
            samples.append(s.to_dict())
        subset = len(set(indices)) < len(self)
        metrics = self._evaluate(self._evaluator('all'), samples, subset)
        if not per_image:
            return metrics, None
        single = self._evaluator('single')
        return metrics, [self._evaluate(single, [s], len(self) > 1)
                         for s in samples]


def eval_split(cfg: Config) -> Optional[str]:
    """``'val'`` or ``'test'``: the first split with a dataset and an
    evaluator in ``cfg``, or None."""
    for split in ('val', 'test'):
        loader = cfg.get(f'{split}_dataloader', None)
        if loader and 'dataset' in loader and cfg.get(f'{split}_evaluator',
                                                      None):
            return split
    return None
