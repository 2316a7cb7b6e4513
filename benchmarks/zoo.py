# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The models the benchmark knows: name -> how to build a torch module.

Every entry builds a model with random weights (latency does not depend on
the values) and wraps it as ``tensor -> tensors``:

* ``lcnetv2-<arch>-fused``: the IR that ``tools/deploy.py`` writes, written
  by the same code (:func:`export_ir`: :func:`mmlcnetv2.deploy.export`;
  re-parameterized 5/3/1 branches, ``mean`` pooling, no ``Reshape``);
* ``lcnetv2-<arch>-unfused``: the mmpretrain ``ImageClassifier`` as built
  (training-time branches, ``AdaptiveAvgPool2d`` + ``view``), i.e. what a
  plain ``openvino.convert_model(model)`` gives: not an export, the
  baseline the fusion is measured against;
* ``paddle-*``: PaddleClas's own networks through ``paddle2onnx`` (the
  anchors); unavailable without ``paddle2onnx``;
* detection entries: the network up to the head outputs (not an export:
  the part every detector has, for the anchors' raw heads); ``<det>-nms``:
  with decoding and NMS in the graph, for ours the IR ``tools/deploy.py``
  writes (:func:`export_ir`); ``<det>-nms-c100``/``-c1000``
  (:data:`LIKE_FOR_LIKE`): the same with 100 or 1,000 candidates planted to
  enter the NMS, ours and the anchors alike;
* the anchors a user would pick instead (:mod:`.anchors`): timm
  classifiers, YOLO11n (ultralytics, optional), RTMDet-tiny (mmdet);
* ``<model>-e2e-{file,array,network}`` (:data:`END_TO_END_MODELS`): the
  whole path of a user's call, timed by :mod:`.end_to_end`: image file ->
  results, decoded array -> results, and the same IR alone on its prepared
  input.

Configs are named as in a ``_base_``: ``mmlcnetv2::`` (ours, from the
package's configs root, :func:`mmlcnetv2.model_index.configs_root`) or
``mmdet::``, so the zoo works from an installed package as from the checkout.
"""
import copy
import importlib.util
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmlcnetv2.names import check_task
from .anchors import (ANCHORS, OURS_PUBLISHED, PLANTED_CANDIDATES,
                      Published, mmdet_cls_convs, plant_candidates,
                      plant_score_prior, timm_classifier,
                      ultralytics_detector)
from .random_init import random_image, realistic_random_init


#: What an end-to-end row times: ``file`` (image path -> results),
#: ``array`` (decoded uint8 image -> results), ``network`` (the same IR alone
#: on the input prepared from that image).
END_TO_END_MODES: Tuple[str, ...] = ('file', 'array', 'network')

#: The entries that get end-to-end rows: the fused base classifier, its
#: PaddleClas anchor (with PaddleClas's own preprocessing) and the
#: PicoDet-style small detector.
END_TO_END_MODELS: Tuple[str, ...] = (
    'lcnetv2-base-fused', 'paddle-pplcnetv2-base', 'picodet-small-320')

_MODE_TEXT = dict(
    file='image file -> results (decode, preprocess, IR, post-process)',
    array='decoded image array -> results (preprocess, IR, post-process)',
    network='the same IR alone on its prepared input')


@dataclass
class Entry:
    """One benchmark model.

    Attributes:
        name: The name used by ``--models``.
        task: One of :data:`mmlcnetv2.names.TASKS`.
        size: Input ``(H, W)``; ``None`` takes ``--cls-size``.
        build: Returns a torch module, an :class:`Ours` (timed as the IR
            :func:`export_ir` writes of it) or, for ``source='paddle'``,
            the path of an ONNX file; called with the input size.
        source: ``'torch'`` or ``'paddle'``.
        int8: Whether an int8 (NNCF) variant is benchmarked.
        description: One line for ``--list`` and the report.
        config: Ours: the config (``mmlcnetv2::<path>``) that ``build``
            builds, which the end-to-end rows export.
        mode: An end-to-end row (one of :data:`END_TO_END_MODES`) of the
            entry ``of``; None: a network row.
        of: The entry whose model an end-to-end row runs.
        published: Its published accuracy (for the latency-accuracy plot).
        counts_detections: A detector with NMS in its graph: its rows
            record how many detections it returned on the timed input.
        img_shape_input: The model takes ``(x, img_shape)``, as
            ``tools/deploy.py``'s detector export does; fed the input size.
    """
    name: str
    task: str
    build: Callable
    description: str
    size: Optional[Tuple[int, int]] = None
    source: str = 'torch'
    int8: bool = False
    tags: List[str] = field(default_factory=list)
    config: Optional[str] = None
    mode: Optional[str] = None
    of: Optional[str] = None
    published: Optional[Published] = None
    counts_detections: bool = False
    img_shape_input: bool = False

    def __post_init__(self) -> None:
        check_task(self.task)
        if self.mode is not None and self.mode not in END_TO_END_MODES:
            raise ValueError(f'mode must be one of {END_TO_END_MODES}, got '
                             f'{self.mode!r}')


class UnfusedClassifier(nn.Module):
    """An mmpretrain ``ImageClassifier`` as built: backbone, neck, head."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.classifier
        return c.head(c.neck(c.backbone(x)))


class DetNetwork(nn.Module):
    """A single-stage detector up to its raw head outputs."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = self.detector.bbox_head(self.detector.extract_feat(x))
        return tuple(t for level in outs[:2] for t in level)


def load_zoo_config(name: str):
    """The config ``name`` (``mmlcnetv2::<path>`` or ``mmdet::<path>``, as
    in a ``_base_``) from the installed packages' configs.

    Example:
        >>> cfg = load_zoo_config(
        ...     'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
        >>> cfg = load_zoo_config(
        ...     'mmlcnetv2::cls/pplcnetv2-base_8xb256_in1k.py')

    Raises:
        FileNotFoundError: No such config (names it and the available ones).
        ValueError: ``name`` has another prefix.
    """
    from mmengine.hub import get_config
    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.model_index import PACKAGE, resolve_config
    package, sep, relpath = name.partition('::')
    if sep and package == PACKAGE:
        # mmengine's get_config would look in site-packages, which is not
        # where an editable install keeps our configs.
        return load_config(resolve_config(relpath))
    if sep and package == 'mmdet':
        return get_config(name)
    raise ValueError(f"zoo config {name!r}: expected 'mmlcnetv2::<path>' "
                     "or 'mmdet::<path>'")


def _cls_config(arch: str) -> str:
    return f'mmlcnetv2::cls/pplcnetv2-{arch}_8xb256_in1k.py'


def random_model(config: str) -> nn.Module:
    """The model of zoo config ``config`` with :func:`realistic_random_init`
    weights, as built (unfused), nothing downloaded."""
    from mmlcnetv2.apis.build import build_model
    cfg = copy.deepcopy(load_zoo_config(config))
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None  # random weights, nothing to read
    return realistic_random_init(build_model(cfg))


class Ours(NamedTuple):
    """One of our models as its rows time it: the IR that
    :func:`export_ir` writes of ``model`` with ``config`` (the code of
    ``tools/deploy.py``), and ``module``, the same network in torch (the
    export's wrapper of the fused model) for the torch eager column.

    Attributes:
        model: As built from ``config`` (unfused), random weights.
        config: Its config, ``mmlcnetv2::<path>``.
        module: The torch module that torch eager times.
        planted: How many candidates enter the NMS (``-nms-c<N>`` rows).
    """
    model: nn.Module
    config: str
    module: nn.Module
    planted: Optional[int] = None


#: How many images an int8 export of ours calibrates on (:func:`export_ir`).
CALIBRATION_IMAGES = 16


def calibration_folder(work: str, count: int = CALIBRATION_IMAGES) -> str:
    """``count`` seeded random-noise JPEGs (320x320) in ``work/calibration``
    (written once): what an int8 export of ours calibrates on. Latency
    depends on where the quantizers are, not on their scales."""
    import cv2
    folder = osp.join(work, 'calibration')
    if not osp.isdir(folder):
        os.makedirs(folder)
        rng = np.random.default_rng(0)
        for i in range(count):
            image = rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)
            cv2.imwrite(osp.join(folder, f'{i:03d}.jpg'), image)
    return folder


def export_ir(model: nn.Module, config: str, out_dir: str, **options
              ) -> str:
    """:func:`mmlcnetv2.deploy.export` (what ``tools/deploy.py`` runs) of
    ``model``'s weights with ``config`` into ``out_dir``; returns the
    ``model.xml`` path.

    Args:
        model: As built from ``config`` (its state dict is the checkpoint).
        config: ``mmlcnetv2::<path>``.
        out_dir: A new folder; the checkpoint goes beside it.
        **options: :func:`~mmlcnetv2.deploy.export`'s keyword arguments.
            ``precision='int8'`` calibrates on :func:`calibration_folder`
            (the config's train set is not needed), beside ``out_dir``.
    """
    from mmlcnetv2.deploy import export
    from mmlcnetv2.model_index import resolve_config
    ckpt = out_dir + '.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    if options.get('precision') == 'int8':
        images = calibration_folder(osp.dirname(out_dir))
        options.update(calib=CALIBRATION_IMAGES, cfg_options={
            'train_dataloader.dataset': dict(
                _delete_=True, type='mmpretrain.CustomDataset',
                data_root=images, with_label=False, pipeline=[])})
    export(resolve_config(config.partition('::')[2]), ckpt, out_dir,
           **options)
    return osp.join(out_dir, 'model.xml')


def _cls_model(arch: str, fused: bool):
    """Ours (``fused``: an :class:`Ours`), or the unfused classifier as
    built (a module that ``openvino.convert_model`` converts)."""
    from mmlcnetv2.apis.build import prepare_for_export
    from mmlcnetv2.deploy import ClassifierExport
    config = _cls_config(arch)
    model = random_model(config)
    if not fused:
        return UnfusedClassifier(model).eval()
    module = ClassifierExport(prepare_for_export(copy.deepcopy(model)))
    return Ours(model, config, module.eval())


def mmdet_counter(detector: nn.Module,
                  x: torch.Tensor) -> Callable[[], int]:
    """Counts the candidates an mmdet detector's exported graph lets into
    NMS on ``x``, as its ``--nms host`` form (the same graph up to the NMS)
    keeps them: per level the ``nms_pre`` best above ``score_thr``, boxes
    of no size dropped. The features are computed once: a planted bias
    changes only the head."""
    from mmlcnetv2.deploy.tasks.detection import DetectorExport, candidate_mask
    host = DetectorExport(detector, nms='host')
    img_shape = torch.tensor([list(x.shape[2:])], dtype=torch.float32)
    with torch.no_grad():
        feats = detector.extract_feat(x)

    def count() -> int:
        with torch.no_grad():
            boxes, scores, _, valid = host.candidates(feats, img_shape)
        valid = valid & candidate_mask(boxes, scores, -1.0,
                                       host.min_bbox_size)
        return int(valid.sum())

    return count


def _det_model(config: str, fused: bool = True, nms: bool = False,
               size: Optional[Tuple[int, int]] = None,
               candidates: Optional[int] = None):
    """A zoo config's detector: up to its raw head outputs
    (:class:`DetNetwork`), or (``nms``) with decoding and NMS as
    ``tools/deploy.py`` exports it (``DetectorExport``: inputs ``x`` and
    ``img_shape``), its scores' prior planted (:func:`.plant_score_prior`)
    or, with ``candidates``, its score bias planted so that that many enter
    the NMS on the ``size`` benchmark input (:func:`.plant_candidates`; the
    module's ``planted_candidates`` says how many did). Ours with NMS is an
    :class:`Ours`: the weights are planted before the export fuses them.
    """
    from mmlcnetv2.apis.build import prepare_for_export
    from mmlcnetv2.deploy.tasks.detection import DetectorExport
    from mmlcnetv2.model_index import PACKAGE
    model = random_model(config)
    if not nms:
        return DetNetwork(prepare_for_export(model) if fused else model
                          ).eval()
    plant_score_prior(mmdet_cls_convs(model.bbox_head))
    ours = config.startswith(f'{PACKAGE}::')
    if fused and not ours:
        model = prepare_for_export(model)
    model = model.eval()
    planted = None
    if candidates is not None:
        count = mmdet_counter(model, torch.from_numpy(random_image(size)))
        plant_candidates(mmdet_cls_convs(model.bbox_head), count, candidates)
        planted = count()
    if ours:
        module = DetectorExport(prepare_for_export(copy.deepcopy(model)))
        return Ours(model, config, module.eval(), planted)
    wrapper = DetectorExport(model).eval()
    wrapper.planted_candidates = planted
    return wrapper


def paddle2onnx_available() -> bool:
    return importlib.util.find_spec('paddle2onnx') is not None


def _paddle_onnx(factory: str, size: Tuple[int, int], out_dir: str) -> str:
    """PaddleClas network (random weights), re-parameterized like
    PaddleClas's export -> ``paddle.jit.save`` -> ``paddle2onnx`` -> ONNX
    path (then read by OpenVINO)."""
    if not paddle2onnx_available():
        raise ModuleNotFoundError(
            'paddle2onnx is not installed: the PaddleClas anchors are '
            'skipped (pip install paddle2onnx; see docs/benchmarks.md).')
    import paddle
    import paddle2onnx
    spec = importlib.util.find_spec('paddleclas')
    if spec is None:
        raise ModuleNotFoundError('paddleclas is not installed')
    pkg_dir = osp.dirname(spec.origin)
    if pkg_dir not in sys.path:  # paddleclas imports itself as `ppcls`
        sys.path.insert(0, pkg_dir)
    module, name = factory.rsplit('.', 1)
    from ppcls.utils import logger
    if getattr(logger, '_logger', None) is None:  # the model logs on init
        logger.init_logger()
    paddle.set_device('cpu')
    net = getattr(importlib.import_module(module), name)(pretrained=False)
    net.eval()
    # As PaddleClas's own export (Engine.export) does: fold the
    # re-parameterizable branches before saving the inference model.
    for layer in net.sublayers():
        if hasattr(layer, 're_parameterize') and not getattr(
                layer, 'is_repped', False):
            layer.re_parameterize()
    prefix = osp.join(out_dir, name)
    input_spec = [paddle.static.InputSpec([1, 3, *size], 'float32', 'x')]
    paddle.jit.save(paddle.jit.to_static(net, input_spec=input_spec), prefix)
    model_file = prefix + ('.json' if osp.exists(prefix + '.json')
                           else '.pdmodel')
    onnx_path = prefix + '.onnx'
    paddle2onnx.export(model_file, prefix + '.pdiparams', onnx_path,
                       opset_version=13)
    return onnx_path


def _detector_entries(name: str, what: str, size: int, build: Callable,
                      tags: List[str], config: Optional[str] = None,
                      published: Optional[Published] = None,
                      img_shape_input: bool = True,
                      like_for_like: bool = False) -> List[Entry]:
    """A detector's entries at one input size: ``name`` (the network as
    its export has it before NMS) and ``name-nms`` (with decoding and NMS
    in the graph, which takes ``img_shape`` too where
    ``img_shape_input``), int8 for both; with ``like_for_like``, also
    ``name-nms-c<N>`` for each of :data:`.PLANTED_CANDIDATES`: the same
    graph with N candidates planted to enter its NMS (f32/bf16)."""
    entries = [
        Entry(name, 'detection', lambda sz: build(sz, False),
              f'{what}, {size}x{size}, network only', size=(size, size),
              int8=True, tags=tags, config=config, published=published),
        Entry(f'{name}-nms', 'detection', lambda sz: build(sz, True),
              f'{what}, {size}x{size}, with decoding + NMS in the graph',
              size=(size, size), int8=True, tags=tags + ['nms'],
              published=published, counts_detections=True,
              img_shape_input=img_shape_input)]
    if like_for_like:
        entries += [
            Entry(f'{name}-nms-c{n}', 'detection',
                  lambda sz, n=n: build(sz, True, n),
                  f'{what}, {size}x{size}, with decoding + NMS in the graph, '
                  f'{n} candidates planted to enter the NMS',
                  size=(size, size), tags=tags + ['nms', 'like-for-like'],
                  counts_detections=True, img_shape_input=img_shape_input)
            for n in PLANTED_CANDIDATES]
    return entries


#: The detectors (and size) of the like-for-like rows: ours and the
#: anchors, each with the same candidates entering NMS.
LIKE_FOR_LIKE = ('picodet-small-320', 'yolo11n-320', 'rtmdet-tiny-320')


def _anchor_entries() -> List[Entry]:
    """The entries of :data:`.anchors.ANCHORS`: a classifier at
    ``--cls-size`` (and at the size of its published top-1 where that
    differs from 224), a detector at each of its sizes, raw and with NMS."""
    entries = []
    for a in ANCHORS:
        tags = ['anchor'] + ([a.requires] if a.requires else [])
        if a.family == 'timm':
            build = (lambda size, model=a.model: timm_classifier(model))
            # published at another size: the row says so, and the plot
            # notes it among those it leaves out
            entries.append(Entry(
                a.name, a.task, build, f'{a.description} (anchor)',
                int8=True, tags=tags, published=a.published))
            if a.published.size != 224:
                s = a.published.size
                entries.append(Entry(
                    f'{a.name}-{s}', a.task, build,
                    f'{a.description} at {s}x{s}, the size of its published '
                    'top-1 (anchor)', size=(s, s), int8=True, tags=tags,
                    published=a.published))
            continue
        for s in a.sizes:
            if a.family == 'ultralytics':
                build = (lambda size, nms, n=None, yaml=a.model:
                         ultralytics_detector(yaml, size, nms, n))
            else:
                build = (lambda size, nms, n=None, config=a.model:
                         _det_model(config, nms=nms, size=size,
                                    candidates=n))
            entries += _detector_entries(
                f'{a.name}-{s}', f'{a.description} (anchor)', s, build,
                tags, published=a.published,
                img_shape_input=a.family == 'mmdet',
                like_for_like=f'{a.name}-{s}' in LIKE_FOR_LIKE)
    return entries


def _entries() -> Dict[str, Entry]:
    entries = []
    for arch in ('small', 'base', 'large'):
        entries.append(Entry(
            f'lcnetv2-{arch}-fused', 'classification',
            lambda size, arch=arch: _cls_model(arch, True),
            f'PPLCNetV2-{arch} as tools/deploy.py exports it (fused)',
            int8=True, tags=['ours'], config=_cls_config(arch),
            published=OURS_PUBLISHED.get(f'lcnetv2-{arch}-fused')))
        entries.append(Entry(
            f'lcnetv2-{arch}-unfused', 'classification',
            lambda size, arch=arch: _cls_model(arch, False),
            f'PPLCNetV2-{arch} mmpretrain classifier as built (unfused)',
            tags=['ours']))
    # PaddleClas anchors: (entry name, module under legendary_models, class)
    legendary = 'ppcls.arch.backbone.legendary_models'
    for name, module, cls in (
            ('paddle-pplcnetv2-base', 'pp_lcnet_v2', 'PPLCNetV2_base'),
            ('paddle-mobilenetv3-large-x1.25', 'mobilenet_v3',
             'MobileNetV3_large_x1_25')):
        entries.append(Entry(
            name, 'classification',
            lambda size, out, factory=f'{legendary}.{module}.{cls}':
            _paddle_onnx(factory, size, out),
            f'PaddleClas {cls} via paddle2onnx (anchor)',
            source='paddle', tags=['anchor']))
    for s in (320, 640):
        entries.append(Entry(
            f'retinanet-lcnetv2-{s}', 'detection',
            lambda size: _det_model('mmlcnetv2::det/retinanet_lcnetv2.py'),
            f'RetinaNet + PPLCNetV2-base (mmlcnetv2::det/retinanet_lcnetv2.py)'
            f', {s}x{s}, network only', size=(s, s), tags=['ours']))
        entries.append(Entry(
            f'retinanet-r50-{s}', 'detection',
            lambda size: _det_model(
                'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'),
            f"mmdet's RetinaNet-R50-FPN, {s}x{s}, network only",
            size=(s, s)))
    for arch, s in (('small', 320), ('base', 416)):
        config = f'mmlcnetv2::det/picodet-style_lcnetv2-{arch}_{s}_coco.py'
        entries += _detector_entries(
            f'picodet-{arch}-{s}', f'PicoDet-style PPLCNetV2-{arch}', s,
            lambda size, nms, n=None, config=config: _det_model(
                config, nms=nms, size=size, candidates=n),
            tags=['ours'], config=config if arch == 'small' else None,
            like_for_like=f'picodet-{arch}-{s}' in LIKE_FOR_LIKE)
    entries += _anchor_entries()
    by_name = {e.name: e for e in entries}
    for name in END_TO_END_MODELS:
        of = by_name[name]
        for mode in END_TO_END_MODES:
            entries.append(Entry(
                f'{name}-e2e-{mode}', of.task, of.build,
                f'{name}: {_MODE_TEXT[mode]}, sklearn china.jpg 427x640',
                size=of.size, source=of.source, tags=of.tags + ['e2e'],
                config=of.config, mode=mode, of=name))
    return {e.name: e for e in entries}


ENTRIES: Dict[str, Entry] = _entries()


def get_entries(names: Optional[List[str]] = None) -> List[Entry]:
    """The entries named (all when ``names`` is empty), in zoo order.

    Raises:
        ValueError: A name the zoo does not know (lists the known ones).
    """
    if not names:
        return list(ENTRIES.values())
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        raise ValueError(f'Unknown model(s) {unknown}; known: '
                         f'{sorted(ENTRIES)} (see --list)')
    return [e for e in ENTRIES.values() if e.name in names]
