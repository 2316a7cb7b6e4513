# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""INT8 with a bound on the accuracy it may cost (``--max-drop``).

NNCF's accuracy-controlled quantization (``nncf.quantize_with_accuracy_control``)
quantizes like
:func:`~mmlcnetv2.deploy.exporting.quantize.quantize_with_calibration` (the
task's
float modules kept float), scores the float and the int8 model on the
config's val set, and while the drop is too large, returns the layers
that cost most to float precision, one group of quantizers at a time.
Its ``validation_fn`` is the deployed path of ``tools/deploy_test.py``
(:class:`~mmlcnetv2.deploy.runtime.evaluate.EvalSet`): original images, the
deployed preprocessing, the candidate IR, mapping back, the config's own
evaluator. Afterwards the float and the chosen model are
scored once more, independently of NNCF, and those numbers go into
``deploy.json``; a model that does not hold the bound is not written.
"""
import contextlib
import io
import logging
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from ..tasks import get_task

#: The ops NNCF quantizes (weights and input activations): the "layers" that
#: run in int8 or stay float.
QUANTIZABLE_OPS = ('Convolution', 'GroupConvolution', 'MatMul',
                   'ConvolutionBackpropData', 'GroupConvolutionBackpropData')


def check_max_drop_value(max_drop: Optional[float], precision: str) -> None:
    """Refuse a ``max_drop`` that no config can honour, before any work.

    Args:
        max_drop (float, optional): The allowed absolute drop of the
            headline metric as a fraction (0.01: one point of top-1, mAP or
            mIoU). None: no bound (plain post-training quantization).
        precision (str): The export precision; ``max_drop`` needs int8.

    Raises:
        ValueError: naming the bad value and what is allowed.
    """
    if max_drop is None:
        return
    if isinstance(max_drop, bool) or not isinstance(max_drop, (int, float)) \
            or not 0 <= max_drop < 1:
        raise ValueError(f'--max-drop must be a fraction in [0, 1) (0.01: '
                         f'one point of top-1/mAP/mIoU), got {max_drop!r}')
    if precision != 'int8':
        raise ValueError(f'--max-drop {max_drop} bounds the drop of int8 '
                         'quantization: it needs --precision int8, got '
                         f'--precision {precision}')


def check_max_drop(max_drop: Optional[float], cfg: Config,
                   task: str) -> None:
    """Refuse a ``max_drop`` the config cannot measure, before the
    conversion: it needs a val (or test) dataset and an evaluator of
    ``task``'s headline metric. (The value itself:
    :func:`check_max_drop_value`.)

    Args:
        max_drop (float, optional): See :func:`check_max_drop_value`;
            None: nothing to check.
        cfg (Config): The config.
        task (str): The config's task.

    Raises:
        ValueError: naming what is missing and what is allowed.
    """
    if max_drop is None:
        return
    from ..runtime.evaluate import eval_split
    split = eval_split(cfg)
    if split is None:
        raise ValueError(f'--max-drop {max_drop} measures the drop on the '
                         "config's val set, but the config has neither "
                         'val_dataloader.dataset + val_evaluator nor '
                         'test_dataloader.dataset + test_evaluator')
    evaluator = cfg[f'{split}_evaluator']
    types = [e.get('type', '') for e in (
        evaluator if isinstance(evaluator, (list, tuple)) else [evaluator])]
    want, key, _ = get_task(task).metric
    if want is not None and not any(t.split('.')[-1] == want
                                    for t in types):
        raise ValueError(f'--max-drop {max_drop}: {split}_evaluator is '
                         f'{types}, but {task} is measured with {want} '
                         f'({key})')


def headline(metrics: Dict, task: str) -> float:
    """The task's headline metric as a fraction (0 when the evaluator
    reports none, as CocoMetric does when nothing was detected)."""
    _, key, scale = get_task(task).metric
    value = metrics.get(key, None)
    return 0.0 if value is None else float(value) / scale


def quantized_layers(ov_model) -> Tuple[List[str], List[str]]:
    """The quantizable layers of a model that run in int8 (their input
    activation comes through a ``FakeQuantize``) and that run float: the
    ones plain PTQ leaves float as well as those accuracy control reverted."""
    int8, float_ = [], []
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() not in QUANTIZABLE_OPS:
            continue
        source = op.input_value(0).get_node()
        (int8 if source.get_type_name() == 'FakeQuantize'
         else float_).append(op.get_friendly_name())
    return int8, float_


@contextlib.contextmanager
def _quiet():
    """Silence the evaluators while NNCF scores candidates: CocoMetric and
    IoUMetric print a table per evaluation (pycocotools to stdout), and
    per-image scores mean hundreds of them."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def quantize_with_max_drop(ov_model, cfg: Config, meta: dict, count: int,
                           max_drop: float) -> Tuple[object, dict]:
    """INT8 whose headline metric on the val set drops by at most
    ``max_drop`` (absolute, as a fraction) from the float model's.

    Calibration as :func:`~mmlcnetv2.deploy.exporting.quantize.
    quantize_with_calibration` (``count``
    train images, same preset and bias correction); validation on the whole
    val set (else test set) with its evaluator: top-1 (``Accuracy``), bbox
    mAP@[.5:.95] (``CocoMetric``) or mIoU (``IoUMetric``). Per-image scores
    (the evaluator on each image alone) let NNCF pick the images where
    quantization hurts most to rank the layers on.

    Args:
        ov_model: The float ``ov.Model``.
        cfg (Config): The model's config.
        meta (dict): The export's ``deploy.json`` content so far.
        count (int): Calibration images.
        max_drop (float): The allowed drop, in [0, 1), for a config
            :func:`check_max_drop` accepted.

    Returns:
        The quantized model and a note for ``deploy.json``: the metric
        before and after, the drop, and the layers that stayed float.

    Raises:
        RuntimeError: NNCF's model still drops more than ``max_drop``.
    """
    import nncf
    import openvino as ov
    from ..runtime.evaluate import EvalSet
    from ..runtime.inferencer import OpenVINOInferencer
    from .quantize import (calibration_images, calibration_inputs,
                           float_scope)

    task = meta['task']  # max_drop checked by the caller: check_max_drop
    images = calibration_images(cfg, count)
    val = EvalSet(cfg)
    n = len(val)

    # NNCF ranks the layers on the images where int8 loses most; at most
    # half the set, so that a call on all images is a whole-set validation.
    ranking = max(1, min(len(images), n // 2))

    def validation_fn(compiled, items) -> Tuple[float, Optional[List]]:
        indices = [int(i) for i in items]
        # Per-image scores only for the whole set: NNCF picks its ranking
        # images by them, and scores those subsets by the metric alone.
        whole = len(indices) == n
        with _quiet():
            metrics, per_image = val.score(
                OpenVINOInferencer.from_compiled(compiled, meta), indices,
                per_image=whole)
        return headline(metrics, task), (
            [headline(m, task) for m in per_image] if whole else None)

    def measure(model) -> Dict:
        compiled = ov.Core().compile_model(
            model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
        with _quiet():
            return val.score(
                OpenVINOInferencer.from_compiled(compiled, meta))[0]

    full = not any(op.get_type_name() == 'If'
                   for op in ov_model.get_ordered_ops())
    keep_float = get_task(task).int8_float_from
    scope = float_scope(ov_model, keep_float)
    quantized = nncf.quantize_with_accuracy_control(
        ov_model,
        calibration_dataset=nncf.Dataset(list(calibration_inputs(
            images, meta, ov_model))),
        validation_dataset=nncf.Dataset(list(range(n))),
        validation_fn=validation_fn,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=len(images),
        fast_bias_correction=not full,
        **(dict(ignored_scope=scope) if scope else {}),
        advanced_accuracy_restorer_parameters=nncf.
        AdvancedAccuracyRestorerParameters(ranking_subset_size=ranking))
    before, after = measure(ov_model), measure(quantized)
    drop = headline(before, task) - headline(after, task)
    int8, float_ = quantized_layers(quantized)
    key = get_task(task).metric[1]
    if drop > max_drop + 1e-9:  # float noise of percent / 100
        raise RuntimeError(
            f'--max-drop {max_drop}: the best int8 model NNCF found drops '
            f'{key} by {drop:.4f} ({headline(before, task):.4f} -> '
            f'{headline(after, task):.4f}) on the {val.split} set; nothing '
            'was written. Export f32/f16, or allow a larger drop')
    correction = 'full' if full else 'fast'
    note = dict(
        method='nncf.quantize_with_accuracy_control (default preset, '
        f'{correction} bias correction)',
        images=len(images), source='train_dataloader',
        float_from=list(keep_float),
        accuracy_control=dict(
            metric=key, split=val.split, images=n, drop_type='absolute',
            max_drop=float(max_drop),
            before=headline(before, task), after=headline(after, task),
            drop=drop, metrics_before=_plain(before),
            metrics_after=_plain(after),
            int8_layers=len(int8), float_layers=float_))
    return quantized, note


def _plain(metrics: Dict) -> Dict:
    """Evaluator results as JSON numbers."""
    return {k: (None if v is None else float(v)) for k, v in metrics.items()
            if v is None or isinstance(v, (int, float))
            or hasattr(v, '__float__')}
