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
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.config import Config

from .inferencer import OpenVINOInferencer


def _fill_prediction(task: str, sample, result: Dict) -> None:
    """Write an inferencer result into a packed data sample, as the torch
    model's ``predict`` would."""
    from mmengine.structures import InstanceData, PixelData
    if task == 'classification':
        sample.set_pred_score(torch.from_numpy(result['scores']).float())
        sample.set_pred_label(torch.tensor([result['label']]))
    elif task == 'detection':
        sample.pred_instances = InstanceData(
            bboxes=torch.from_numpy(result['bboxes']).float(),
            scores=torch.from_numpy(result['scores']).float(),
            labels=torch.from_numpy(result['labels']).long())
    else:
        sample.pred_sem_seg = PixelData(
            data=torch.from_numpy(result['seg'])[None])


def _agreement(task: str, a: Dict, b: Dict, iou_thr: float = 0.5,
               score_thr: float = 0.3) -> np.ndarray:
    """Per-image agreement of two results: classification, same top-1 (0/1);
    segmentation, pixel fraction; detection, the fraction of boxes (score
    >= ``score_thr`` in either) matched by a same-class box of the other
    with IoU >= ``iou_thr``."""
    if task == 'classification':
        return np.array([float(a['label'] == b['label'])])
    if task == 'segmentation':
        return np.array([float((a['seg'] == b['seg']).mean())])
    from torchvision.ops import box_iou
    ka, kb = a['scores'] >= score_thr, b['scores'] >= score_thr
    ba, bb = a['bboxes'][ka], b['bboxes'][kb]
    la, lb = a['labels'][ka], b['labels'][kb]
    if len(ba) == 0 and len(bb) == 0:
        return np.array([1.0])
    if len(ba) == 0 or len(bb) == 0:
        return np.array([0.0])
    iou = box_iou(torch.from_numpy(ba), torch.from_numpy(bb)).numpy()
    iou[la[:, None] != lb[None, :]] = 0
    matched = (iou.max(1) >= iou_thr).sum() + (iou.max(0) >= iou_thr).sum()
    return np.array([matched / (len(ba) + len(bb))])


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
    from mmengine.registry import DATASETS, init_default_scope
    from tqdm import tqdm

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loader = cfg.get('test_dataloader', None)
    if not loader or 'dataset' not in loader:
        raise ValueError('The config has no test_dataloader.dataset to '
                         'evaluate on.')
    dataset = DATASETS.build(copy.deepcopy(loader['dataset']))
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise ValueError('The test dataset is empty.')
    dirs = [model_dir] + ([compare_dir] if compare_dir else [])
    inferencers = [OpenVINOInferencer(d, precision_hint=precision_hint)
                   for d in dirs]
    task = inferencers[0].task
    if task == 'detection' and n != len(dataset):
        # CocoMetric scores against every image of its annotation file.
        raise ValueError(f'limit={limit} cannot be used for detection: '
                         'CocoMetric evaluates every image of the '
                         'annotation file; evaluate the whole test set.')
    for d, inf in zip(dirs, inferencers):
        if inf.task != task:
            raise ValueError(f'{d!r} is a {inf.task} export, {dirs[0]!r} a '
                             f'{task} one: they cannot be compared.')
    evaluators = []
    for _ in inferencers:
        evaluator = Evaluator(copy.deepcopy(cfg.test_evaluator))
        evaluator.dataset_meta = dataset.metainfo
        evaluators.append(evaluator)
    agreements = []
    for i in tqdm(range(n), disable=not progress, unit='img',
                  desc='evaluate'):
        item = dataset[i]
        sample = item['data_samples']
        results = []
        for inf, evaluator in zip(inferencers, evaluators):
            result = inf(sample.img_path)
            results.append(result)
            s = copy.deepcopy(sample)
            _fill_prediction(task, s, result)
            evaluator.process(data_samples=[s.to_dict()])
        if len(results) == 2:
            agreements.append(_agreement(task, results[0], results[1]))
    out = dict(task=task, images=n,
               metrics=evaluators[0].evaluate(n))
    if compare_dir:
        out['compare_metrics'] = evaluators[1].evaluate(n)
        out['agreement'] = float(np.concatenate(agreements).mean())
    return out
