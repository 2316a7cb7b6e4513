# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""End-to-end rows: what a user's call costs, not only the network.

Three rows per model (:data:`.zoo.END_TO_END_MODES`), on one photo
(scikit-learn's ``china.jpg``, 427x640):

* ``file``: image path -> results (JPEG decode, preprocessing, IR,
  post-processing);
* ``array``: the decoded uint8 image -> results;
* ``network``: the same compiled IR alone on the input prepared from that
  image (what the two above add to it is the Python path).

Ours time :class:`~mmlcnetv2.deploy.OpenVINOInferencer` on an export that
:func:`mmlcnetv2.deploy.export` writes with its defaults (random weights):
whatever the inferencer and the IR do (preprocessing in Python or in the
graph) is what is measured; nothing of it is re-implemented here. The
PaddleClas anchor runs its network (:mod:`.zoo`, via ``paddle2onnx``) behind
PaddleClas's published inference preprocessing
(``deploy/configs/inference_cls.yaml``: ``ResizeImage resize_short 256``,
``CropImage 224``, ``NormalizeImage`` 1/255, ImageNet mean/std, ``HWC``,
``ToCHWImage``) and ``Topk`` post-processing in numpy, as
``deploy/python/predict_cls.py`` runs them.

Each row is a :class:`Called`: the latency phase times it with the same
warm-up, early stop and interleaved rounds as the network rows; the
throughput and torch phases skip it.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import cv2
import numpy as np

from .timing import (call_latencies, compile_model, conv_kernels,
                     runtime_ops, used_precision)
from .zoo import ENTRIES, Entry, export_ir, random_model

#: The photo of every end-to-end row (scikit-learn's sample image).
SAMPLE_IMAGE = 'china.jpg'

#: PaddleClas's inference preprocessing of PP-LCNetV2
#: (``paddleclas/deploy/configs/inference_cls.yaml``, ``PreProcess``).
PADDLECLAS_PREPROCESS = dict(resize_short=256, crop=224, scale=1 / 255.,
                             mean=(0.485, 0.456, 0.406),
                             std=(0.229, 0.224, 0.225))


@dataclass
class Called:
    """An end-to-end row: a Python call timed like a sync inference.

    Attributes:
        call: One inference of the row (its result is discarded).
    """
    call: Callable[[], Any]

    def latencies(self, iters: int, max_time: float) -> List[float]:
        """One round's latencies (ms); see :func:`.call_latencies`."""
        return call_latencies(self.call, iters, max_time)


def sample_photo(work: str) -> Tuple[str, np.ndarray]:
    """``china.jpg`` written as a JPEG into ``work`` (its path) and decoded
    as OpenCV decodes it (BGR uint8), the inputs of the ``file`` and
    ``array`` rows."""
    from sklearn.datasets import load_sample_image
    rgb = load_sample_image(SAMPLE_IMAGE)
    path = osp.join(work, SAMPLE_IMAGE)
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1]),
                       [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise RuntimeError(f'could not write {path}')
    return path, cv2.imread(path, cv2.IMREAD_COLOR)


# --------------------------------------------------------------- PaddleClas
def paddleclas_preprocess(rgb: np.ndarray,
                          spec: Dict = PADDLECLAS_PREPROCESS) -> np.ndarray:
    """PaddleClas's inference preprocessing of an RGB uint8 image ->
    ``float32 [1, 3, crop, crop]``, step by step as its
    ``deploy/python/preprocess.py`` does it (``ResizeImage``: cv2 bilinear
    on the short side, rounded; ``CropImage``: centre, floor offsets;
    ``NormalizeImage`` in ``HWC``; ``ToCHWImage``; the batch of one).

    Example:
        >>> x = paddleclas_preprocess(np.zeros((427, 640, 3), np.uint8))
        >>> x.shape, x.dtype
        ((1, 3, 224, 224), dtype('float32'))
    """
    h, w = rgb.shape[:2]
    percent = float(spec['resize_short']) / min(w, h)
    img = cv2.resize(rgb, (int(round(w * percent)), int(round(h * percent))),
                     interpolation=cv2.INTER_LINEAR)
    c = spec['crop']
    top, left = (img.shape[0] - c) // 2, (img.shape[1] - c) // 2
    img = img[top:top + c, left:left + c, :]
    mean = np.array(spec['mean'], np.float32).reshape(1, 1, 3)
    std = np.array(spec['std'], np.float32).reshape(1, 1, 3)
    img = (img.astype('float32') * np.float32(spec['scale']) - mean) / std
    return np.array([img.transpose((2, 0, 1))])


def paddleclas_topk(logits: np.ndarray, k: int = 5) -> List[Dict]:
    """PaddleClas's ``Topk`` post-processing (class ids and scores of the
    ``k`` best, per image)."""
    out = []
    for probs in logits:
        index = probs.argsort(axis=0)[-k:][::-1].astype('int32')
        out.append(dict(class_ids=[i.item() for i in index],
                        scores=np.around([probs[i].item() for i in index],
                                         decimals=5).tolist()))
    return out


class _PaddleClasRun:
    """The anchor as ``predict_cls.py`` runs it: decode with cv2 and flip
    to RGB (``file``), preprocess, infer, ``Topk``."""

    def __init__(self, compiled) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def infer(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data

    def from_rgb(self, rgb: np.ndarray) -> List[Dict]:
        return paddleclas_topk(self.infer(paddleclas_preprocess(rgb)))

    def from_file(self, path: str) -> List[Dict]:
        return self.from_rgb(cv2.imread(path)[:, :, ::-1])


# --------------------------------------------------------------------- ours
def export_random(entry: Entry, work: str) -> str:
    """:func:`mmlcnetv2.deploy.export` of ``entry``'s config with its
    defaults, on random weights (:func:`.zoo.random_model`) -> the export
    folder."""
    folder = osp.join(work, f'{entry.name}-export')
    export_ir(random_model(entry.config), entry.config, folder)
    return folder


class EndToEndBuilder:
    """Builds the end-to-end rows; one export or anchor model per entry and
    one compiled model per (entry, precision), shared by its three rows.

    Args:
        core: The ``ov.Core``.
        threads: ``INFERENCE_NUM_THREADS``.
        work: A temporary folder (photo, exports, ONNX files).
    """

    def __init__(self, core, threads: int, work: str) -> None:
        self.core = core
        self.threads = threads
        self.work = work
        self.path, self.bgr = sample_photo(work)
        self._models: Dict[str, Any] = {}
        self._runs: Dict[Tuple[str, str], Any] = {}

    def _run(self, of: Entry, precision: str):
        key = (of.name, precision)
        if key in self._runs:
            return self._runs[key]
        if of.source == 'paddle':
            if of.name not in self._models:
                size = (PADDLECLAS_PREPROCESS['crop'], ) * 2
                self._models[of.name] = self.core.read_model(
                    of.build(size, self.work))
            run = _PaddleClasRun(compile_model(
                self.core, self._models[of.name], precision, self.threads))
        else:
            from mmlcnetv2.deploy import OpenVINOInferencer
            if of.name not in self._models:
                self._models[of.name] = export_random(of, self.work)
            # The benchmark's LATENCY compile settings, through the
            # inferencer's own arguments.
            run = OpenVINOInferencer(
                self._models[of.name], precision_hint=precision,
                ov_config=dict(PERFORMANCE_HINT='LATENCY', NUM_STREAMS=1,
                               INFERENCE_NUM_THREADS=int(self.threads)))
        self._runs[key] = run
        return run

    def build(self, entry: Entry, precision: str, row: Dict) -> Called:
        """The row ``entry@precision`` to time; ``row`` gains what the CPU
        plugin made of the model and the shapes involved.

        Raises:
            ModuleNotFoundError: The anchor needs ``paddle2onnx``/
                ``paddleclas`` (the row is then skipped, saying so).
        """
        run = self._run(ENTRIES[entry.of], precision)
        rgb = np.ascontiguousarray(self.bgr[:, :, ::-1])
        if isinstance(run, _PaddleClasRun):
            x = paddleclas_preprocess(rgb)
            calls = dict(file=lambda: run.from_file(self.path),
                         array=lambda: run.from_rgb(rgb),
                         network=lambda: run.infer(x))
            inputs: List[Any] = [x]
        else:
            info = run.preprocess(self.bgr)
            calls = dict(file=lambda: run(self.path),
                         array=lambda: run(self.bgr),
                         network=lambda: run.infer_tensor(
                             info['input'], [info['img_shape']]))
            inputs = [info['input']]
        row['image_shape'] = list(self.bgr.shape)
        row['input_shape'] = [list(np.shape(t)) for t in inputs][0]
        row['used_precision'] = used_precision(run.compiled)
        row['runtime_ops'] = runtime_ops(run.compiled)
        row['conv_kernels'] = conv_kernels(run.compiled)
        return Called(calls[entry.mode])

