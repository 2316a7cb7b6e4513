# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The anchors a user would pick instead of ours, as data: what each is,
how it is built offline (random weights, nothing downloaded), its published
accuracy with the source, and which of ours it is compared with.

* classification: timm's MobileNetV4-conv-small/medium, MobileNetV3-large-100
  and EfficientNet-B0 (``timm.create_model(name, pretrained=False)``);
* detection: YOLO11n from ultralytics' ``yolo11n.yaml`` (optional package:
  ``requirements/anchors.txt``) and RTMDet-tiny from mmdet's shipped config.

Every detector has two forms. ``<name>`` is the network and what its own
export puts before NMS: ours and RTMDet-tiny up to the head outputs (as
:class:`~.zoo.DetNetwork`), YOLO11n as ultralytics exports it with
``nms=False`` (network + DFL box decoding + sigmoid). ``<name>-nms`` adds
decoding and NMS in the graph: ours and RTMDet-tiny as ``tools/deploy.py``
exports a detector (:class:`~mmlcnetv2.deploy.tasks.detection.DetectorExport`
with the config's ``test_cfg``; inputs ``x`` and ``img_shape``, fed the
input size),
YOLO11n as ultralytics exports it with ``nms=True`` (its ``NMSModel``,
conf 0.25, IoU 0.7, 300 boxes). NMS costs what the scores let through, so
every ``-nms`` detector gets one rule, :func:`plant_score_prior` (the final
classification convs' bias at the prior probability 0.01 that RTMDet's and
PicoDet's own ``init_weights`` use), and each row records how many
detections its graph returned on the benchmark input. With each exporter's
own threshold that rule still lets different numbers through (YOLO11n's
conf 0.25: none; RTMDet's 0.001: all), so the like-for-like rows
``<det>-nms-c100``/``-c1000`` (:data:`PLANTED_CANDIDATES`) plant the bias
per detector instead (:func:`plant_candidates`): exactly N candidates
enter each one's NMS.
"""
import importlib
import math
import os
from dataclasses import dataclass
from itertools import product
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import torch
import torch.nn as nn

from .random_init import random_image, realistic_random_init

#: What the requirement file of the optional anchors is called.
ANCHOR_REQUIREMENTS = 'requirements/anchors.txt'


@dataclass(frozen=True)
class Published:
    """A published accuracy: ``metric`` (``'top-1 %'``, ``'mAP'``),
    ``value``, the ``size`` (input side) it was measured at, the
    ``source`` that says so (URL) and, where the model has several
    published weights, which ones (``weights``: the best published)."""
    metric: str
    value: float
    size: int
    source: str
    weights: str = ''


TIMM_CARD = 'https://huggingface.co/timm/{}'
PADDLECLAS_PPLCNETV2 = ('https://github.com/PaddlePaddle/PaddleClas/blob/'
                        'release/2.6/docs/en/models/PP-LCNetV2_en.md')
YOLO11_DOCS = 'https://docs.ultralytics.com/models/yolo11/'
RTMDET_README = ('https://github.com/open-mmlab/mmdetection/tree/main/'
                 'configs/rtmdet')

PADDLEX_MODELS = ('https://github.com/PaddlePaddle/PaddleX/blob/develop/'
                  'docs/support_list/models_list.en.md')

#: Published accuracies of ours: the best ImageNet-1k top-1 of the
#: PP-LCNetV2 weights our converter loads (README, "Weights"): base with
#: PaddleClas's SSLD-distilled weights; small and large as PaddleX lists
#: them (PaddleClas publishes no figure for those two).
OURS_PUBLISHED: Dict[str, Published] = {
    'lcnetv2-small-fused': Published('top-1 %', 73.97, 224, PADDLEX_MODELS),
    'lcnetv2-base-fused': Published('top-1 %', 80.07, 224,
                                    PADDLECLAS_PPLCNETV2, 'SSLD'),
    'lcnetv2-large-fused': Published('top-1 %', 78.51, 224, PADDLEX_MODELS),
}


@dataclass(frozen=True)
class Anchor:
    """One anchor model.

    Attributes:
        name: The zoo entry name (``--models``).
        task: ``'classification'`` or ``'detection'``.
        family: What builds it: ``'timm'``, ``'ultralytics'``, ``'mmdet'``.
        model: timm model name, ultralytics yaml or mmdet config.
        sizes: The input sides it is timed at; ``None``: ``--cls-size``.
        published: Its published accuracy (``None``: none we know).
        requires: The optional package it needs (missing: its rows are
            skipped and say so); ``None``: part of the stack.
    """
    name: str
    task: str
    family: str
    model: str
    description: str
    published: Optional[Published] = None
    sizes: Optional[Tuple[int, ...]] = None
    requires: Optional[str] = None


def _timm(name: str, tag: str, top1: float, test_size: int) -> Published:
    return Published('top-1 %', top1, test_size,
                     TIMM_CARD.format(f'{name}.{tag}'))


#: The anchors. Classification anchors are timed at ``--cls-size`` (for
#: the ratios, like ours) and, where their published top-1 was measured at
#: another size, at that size too (for the latency-accuracy plot).
ANCHORS: Tuple[Anchor, ...] = (
    Anchor('timm-mobilenetv4-conv-small', 'classification', 'timm',
           'mobilenetv4_conv_small', "timm's MobileNetV4-conv-small",
           _timm('mobilenetv4_conv_small', 'e2400_r224_in1k', 74.6, 256)),
    Anchor('timm-mobilenetv4-conv-medium', 'classification', 'timm',
           'mobilenetv4_conv_medium', "timm's MobileNetV4-conv-medium",
           _timm('mobilenetv4_conv_medium', 'e500_r256_in1k', 79.9, 320)),
    Anchor('timm-mobilenetv3-large-100', 'classification', 'timm',
           'mobilenetv3_large_100', "timm's MobileNetV3-large-100",
           _timm('mobilenetv3_large_100', 'ra_in1k', 75.8, 224)),
    Anchor('timm-efficientnet-b0', 'classification', 'timm',
           'efficientnet_b0', "timm's EfficientNet-B0",
           _timm('efficientnet_b0', 'ra_in1k', 77.7, 224)),
    Anchor('yolo11n', 'detection', 'ultralytics', 'yolo11n.yaml',
           "ultralytics' YOLO11n (yolo11n.yaml)",
           Published('mAP', 39.5, 640, YOLO11_DOCS), (320, 416, 640),
           requires='ultralytics'),
    Anchor('rtmdet-tiny', 'detection', 'mmdet',
           'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
           "mmdet's RTMDet-tiny (rtmdet_tiny_8xb32-300e_coco.py)",
           Published('mAP', 41.1, 640, RTMDET_README), (320, 416, 640)),
)

#: The like-for-like detection rows: every detector's score bias planted
#: so that this many candidates enter its NMS on the benchmark input.
PLANTED_CANDIDATES: Tuple[int, ...] = (100, 1000)


#: Ours against the anchors: (ours, anchors); every pair is a ratio of
#: latencies at each precision. Detectors pair at the same input size.
ANCHOR_PAIRS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ('lcnetv2-small-fused', ('timm-mobilenetv4-conv-small',
                             'timm-mobilenetv3-large-100',
                             'timm-efficientnet-b0')),
    ('lcnetv2-base-fused', ('timm-mobilenetv4-conv-medium',
                            'timm-mobilenetv4-conv-small',
                            'timm-mobilenetv3-large-100',
                            'timm-efficientnet-b0')),
    ('picodet-small-320', ('yolo11n-320', 'rtmdet-tiny-320')),
    ('picodet-small-320-nms', ('yolo11n-320-nms', 'rtmdet-tiny-320-nms')),
    *((f'picodet-small-320-nms-c{n}', (f'yolo11n-320-nms-c{n}',
                                       f'rtmdet-tiny-320-nms-c{n}'))
      for n in PLANTED_CANDIDATES),
    ('picodet-base-416', ('yolo11n-416', 'rtmdet-tiny-416')),
    ('picodet-base-416-nms', ('yolo11n-416-nms', 'rtmdet-tiny-416-nms')),
)


def anchor_pairs() -> List[Tuple[str, str]]:
    """``(ours, anchor)`` entry names of :data:`ANCHOR_PAIRS`, in order."""
    return [(ours, anchor) for ours, anchors in ANCHOR_PAIRS
            for anchor in anchors]


def import_optional(package: str):
    """``package``, imported; or ``ModuleNotFoundError`` with the line the
    skipped rows show (``'<package> not installed'`` and how to get it)."""
    try:
        return importlib.import_module(package)
    except ImportError as e:
        raise ModuleNotFoundError(
            f'{package} not installed (optional anchor: pip install -r '
            f'{ANCHOR_REQUIREMENTS})') from e


def plant_score_prior(convs: Iterable[nn.Conv2d],
                      prior: float = 0.01) -> None:
    """Set the bias of a detector's final classification convs to
    ``log(prior / (1 - prior))``: sigmoid scores start near ``prior``, as
    RTMDet's and PicoDet's own ``init_weights`` make them, so what NMS
    gets is set by one rule for every detector, not by random biases."""
    bias = math.log(prior / (1 - prior))
    for conv in convs:
        nn.init.constant_(conv.bias, bias)


def plant_candidates(convs: Sequence[nn.Conv2d], count: Callable[[], int],
                     target: int, span: float = 40.0,
                     steps: int = 40) -> None:
    """Shift the bias of a detector's final classification convs (all by
    one amount) so that ``target`` candidates enter its NMS on the
    benchmark input: bisection on the shift, ``count()`` (the detector's
    own rule, run with the biases as they are) never falling as it rises.

    Every detector then gives NMS the same work, whatever its score
    threshold, ``nms_pre`` or random weights (one prior planted for all
    does not: on the same input YOLO11n then keeps no candidate, RTMDet
    thousands).

    Args:
        convs: The final classification convs (their bias is changed).
        count: Candidates entering NMS on the benchmark input.
        target: How many should.
        span: The shift is searched in ``[-span, span]``.
        steps: Bisection steps.

    Example:
        >>> conv = nn.Conv2d(1, 2, 1)
        >>> x = torch.randn(1, 1, 8, 8)
        >>> def count():
        ...     with torch.no_grad():
        ...         return int((conv(x) > 0).sum())
        >>> plant_candidates([conv], count, 10)
        >>> count()
        10
    """
    base = [conv.bias.detach().clone() for conv in convs]

    def shift_to(shift: float) -> None:
        with torch.no_grad():
            for conv, bias in zip(convs, base):
                conv.bias.copy_(bias + shift)

    lo, hi = -span, span
    for _ in range(steps):
        mid = (lo + hi) / 2
        shift_to(mid)
        if count() >= target:
            hi = mid
        else:
            lo = mid
    shift_to(hi)


def timm_classifier(name: str) -> nn.Module:
    """timm's ``name`` with random weights
    (:func:`.random_init.realistic_random_init`),
    nothing downloaded."""
    import timm
    return realistic_random_init(
        timm.create_model(name, pretrained=False)).eval()


def mmdet_cls_convs(head: nn.Module) -> List[nn.Conv2d]:
    """The final classification convs of an mmdet dense head (RTMDet's
    ``rtm_cls``, PicoHead's ``cls_preds``, RetinaNet's ``retina_cls``)."""
    for attr in ('rtm_cls', 'cls_preds', 'retina_cls'):
        convs = getattr(head, attr, None)
        if convs is not None:
            return list(convs) if isinstance(convs, nn.ModuleList) \
                else [convs]
    raise NotImplementedError(
        f'{type(head).__name__}: no known classification conv')


#: ultralytics' export arguments for ``nms=True`` (its defaults for
#: OpenVINO: conf 0.25, IoU 0.7, 300 boxes, static batch 1).
YOLO_NMS_ARGS = dict(format='openvino', dynamic=False, batch=1, max_det=300,
                     conf=0.25, iou=0.7, agnostic_nms=False, opset=None,
                     quantize=None, nms=True)


def yolo_candidates(model: nn.Module, x: torch.Tensor) -> int:
    """The candidates ultralytics' ``NMSModel`` lets into NMS on ``x``:
    the priors whose best class score is above ``conf``."""
    with torch.no_grad():
        pred = model(x)
    pred = pred[0] if isinstance(pred, (tuple, list)) else pred
    return int((pred[:, 4:].amax(1) > YOLO_NMS_ARGS['conf']).sum())


def ultralytics_detector(yaml: str, size: Tuple[int, int], nms: bool,
                         candidates: Optional[int] = None) -> nn.Module:
    """ultralytics' detector from its ``yaml`` (random weights, nothing
    downloaded), prepared as its exporter prepares a model for OpenVINO:
    BN fused, ``Detect`` in export mode; with ``nms``, wrapped in its
    ``NMSModel`` as ``export(format='openvino', nms=True)`` does, and with
    ``candidates``, its score bias planted so that that many enter the NMS
    on the benchmark input (:func:`plant_candidates`; the module's
    ``planted_candidates`` says how many did)."""
    # Read when ultralytics is imported: no connectivity check (so no
    # downloads or analytics), no pip installs of "missing" packages, quiet.
    for var, value in (('YOLO_OFFLINE', 'True'), ('YOLO_AUTOINSTALL', 'False'),
                       ('YOLO_VERBOSE', 'False')):
        os.environ.setdefault(var, value)
    import_optional('ultralytics')
    from types import SimpleNamespace
    from ultralytics import YOLO
    from ultralytics.engine.exporter import NMSModel
    from ultralytics.nn.modules import C2f, Detect
    # YOLO(yaml) builds from the yaml alone (no weights to fetch) and gives
    # the model the `task` that NMSModel reads.
    model = realistic_random_init(YOLO(yaml, task='detect').model)
    detect = [m for m in model.modules() if isinstance(m, Detect)]
    if nms:
        plant_score_prior(b[-1] for d in detect for b in d.cv3)
    for p in model.parameters():
        p.requires_grad = False
    model = model.eval().float().fuse(verbose=False)
    for m in model.modules():  # Exporter.export_*'s "Update model"
        if isinstance(m, Detect):
            m.dynamic, m.export, m.format = False, True, 'openvino'
            m.max_det = YOLO_NMS_ARGS['max_det']
            m.agnostic_nms = False
            m.xyxy = nms
            m.shape = None
        elif isinstance(m, C2f):
            m.forward = m.forward_split
    with torch.no_grad():
        # The exporter's dry run: Detect caches its anchors for this size,
        # which the trace then takes as constants.
        model(torch.zeros(1, 3, *size))
    planted = None
    if candidates is not None:
        x = torch.from_numpy(random_image(size))
        plant_candidates([b[-1] for d in detect for b in d.cv3],
                         lambda: yolo_candidates(model, x), candidates)
        planted = yolo_candidates(model, x)
    if nms:
        model = NMSModel(model, SimpleNamespace(**YOLO_NMS_ARGS)).eval()
    model.planted_candidates = planted
    return model


def anchor_ratios(rows: Dict[str, Dict],
                  precisions: Iterable[str]) -> List[Dict]:
    """Every ``(ours, anchor)`` pair of :data:`ANCHOR_PAIRS` at every
    precision: the median of per-round latency ratios ours / anchor, or
    which rows are missing (skipped or not run)."""
    from .report import row_ratio
    return [row_ratio(rows, f'{ours}@{p}', f'{anchor}@{p}', precision=p)
            for (ours, anchor), p in product(anchor_pairs(), precisions)]
