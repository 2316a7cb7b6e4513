# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Detection: an mmdet single-stage detector with decoding and NMS in the
graph (mmdeploy's convention), or with the NMS on the host.

The IR's inputs are ``input`` and ``img_shape [B, 2]`` (h, w of each
resized image before padding). The default export (``--nms graph``) outputs
``dets [B, K, 5]`` (x1, y1, x2, y2, score) and ``labels [B, K]``,
``K = test_cfg.max_per_img``, padded with score 0 and label -1. Decoding,
clipping to ``img_shape``, score threshold and NMS are in the graph; the
inferencer keeps the real rows and rescales them to the original image.

``--nms host`` (``deploy.json``: ``postprocess.nms = 'host'``) is for
plugins without ``NonMaxSuppression`` (OpenVINO GPU, NPU): the IR ends at
the decoded candidates, fixed in number (``nms_pre`` per level),
``boxes [B, N, 4]`` clipped to ``img_shape``, ``scores [B, N]`` (-1 where
a candidate fails the score threshold or the box-size test) and
``labels [B, N]``; no ``NonZero``, ``NonMaxSuppression`` or ``If`` op. The
inferencer runs the rest, :func:`select_detections`, the very function the
graph form traces, so both give the same detections.
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn

from ...names import NMS_PLACES
from ..field_checks import (FRACTION, POSITIVE_INT, Check, DeployFormatError,
                            check_field)
from ...errors import UnsupportedModelError
from .base import DeployTask, palette
from .dense_heads import head_candidates, rank_within
from .image_nms import ImageNMS, apart, openvino_extensions
from .det_matching import match_detections, unexplained

#: The IR outputs of a ``--nms host`` export: the candidates before NMS.
HOST_NMS_OUTPUTS = ('boxes', 'scores', 'labels')
#: The score threshold that keeps every candidate the IR did not reject
#: (those score -1): the IR has applied the head's own rule already.
REJECTED = -1.0
#: ``max_per_img`` of a head whose ``test_cfg`` has none (YOLOX keeps
#: every detection the NMS leaves).
MAX_PER_IMG_UNSET = 1000
# deploy.json's min_bbox_size for a host NMS.
MIN_BBOX_SIZE: Check = (lambda v: v in (-1, 0) and not isinstance(v, bool),
                        '-1 or 0')


#: The keys of mmdet's ``test_cfg.nms`` (mmcv's ``batched_nms`` and
#: ``nms``) the export follows: ``split_thr`` only decides how mmcv loops,
#: not what it keeps.
NMS_KEYS = ('type', 'iou_threshold', 'class_agnostic', 'max_num', 'offset',
            'score_threshold', 'split_thr')


def nms_settings(head: str, nms) -> dict:
    """``test_cfg.nms`` of ``head``, checked: plain NMS with only
    :data:`NMS_KEYS`, ``offset`` 0 or 1.

    Raises:
        UnsupportedModelError: one line naming the key and what exports.
    """
    if nms is None or nms.get('type', 'nms') != 'nms':
        raise UnsupportedModelError(
            f'{head} test_cfg.nms={nms!r}: only plain NMS (type="nms") '
            'exports.')
    for key in nms:
        if key not in NMS_KEYS:
            raise UnsupportedModelError(
                f'{head} test_cfg.nms.{key}={nms[key]!r} does not export; '
                f'the export follows {", ".join(NMS_KEYS)}.')
    if nms.get('offset', 0) not in (0, 1) or isinstance(
            nms.get('offset', 0), bool):
        raise UnsupportedModelError(
            f'{head} test_cfg.nms.offset={nms["offset"]!r}: mmcv\'s nms '
            'takes 0 or 1.')
    return dict(nms)


class DetectorExport(nn.Module):
    """An mmdet single-stage detector with decoding and NMS in the graph.

    Follows mmdet's ``predict`` of the head with the config's ``test_cfg``
    (``nms_pre``, ``score_thr``, ``min_bbox_size`` -1 or 0,
    ``max_per_img``, and ``nms``'s ``iou_threshold``, ``class_agnostic``,
    ``max_num``, ``offset`` and ``score_threshold``; anything else is
    refused), batched: the head's candidates (:mod:`.dense_heads`: per
    level the ``nms_pre`` best, score factors applied, boxes decoded and
    clipped to each image's ``img_shape``, the resized image without its
    padding, as mmdet's ``max_shape``), NMS (torchvision's, which converts
    to OpenVINO's ``NonMaxSuppression``), then the ``max_per_img`` best per
    image. The export's self-check compares the IR with mmdet's own
    ``predict`` (:meth:`DetectionTask.conversion_check`), not with this
    wrapper.

    Args:
        detector (nn.Module): The built, eval-mode mmdet detector.
        nms (str): ``'graph'``: the graph ends in NMS (outputs ``dets``,
            ``labels``); ``'host'``: it ends before, at the candidates
            (``boxes``, ``scores`` with -1 for the rejected ones,
            ``labels``), and :func:`select_detections` on the host does
            the rest.

    Raises:
        UnsupportedModelError: a detector or head that does not export
            (before anything is traced).

    Example:
        >>> wrapper = DetectorExport(detector, nms='host')  # doctest: +SKIP
        >>> boxes, scores, labels = wrapper(x, img_shape)  # doctest: +SKIP
    """

    def __init__(self, detector: nn.Module, nms: str = 'graph') -> None:
        super().__init__()
        if nms not in NMS_PLACES:
            raise ValueError(f'nms must be one of {list(NMS_PLACES)}, got '
                             f'{nms!r}')
        self.nms = nms
        # The graph form ranks only the scores above the threshold; the
        # host form keeps a fixed count (no NonZero before the host NMS).
        self.candidates = head_candidates(detector,
                                          fixed_count=self.nms == 'host')
        head = detector.bbox_head
        cfg = head.test_cfg
        nms = nms_settings(type(head).__name__, cfg.get('nms', None))
        # mmdet compares min_bbox_size in original-image pixels, which the
        # graph does not know; 0 (drop empty boxes) is scale-free.
        self.min_bbox_size = cfg.get('min_bbox_size', -1)
        if self.min_bbox_size > 0:
            raise UnsupportedModelError(
                f'test_cfg.min_bbox_size={self.min_bbox_size}: only -1 or 0 '
                'export (a positive size is in original-image pixels).')
        self.detector = detector
        self.score_thr = float(cfg.get('score_thr', 0.0))
        self.iou_thr = float(nms['iou_threshold'])
        self.class_agnostic = bool(nms.get('class_agnostic', False))
        self.offset = int(nms.get('offset', 0))
        # mmcv's nms drops scores <= its score_threshold before suppressing
        # (the final scores, score factors applied).
        self.nms_score_thr = float(nms.get('score_threshold', 0) or 0)
        # mmdet slices [:cfg.max_per_img]; YOLOX's configs have none (all).
        self.max_per_img = int(cfg.get('max_per_img', 0) or 0) or \
            MAX_PER_IMG_UNSET
        # mmcv's batched_nms keeps the max_num best, then mmdet slices
        # max_per_img: the min of the two.
        max_num = int(nms.get('max_num', -1))
        if max_num > 0:
            self.max_per_img = min(self.max_per_img, max_num)
        self.num_classes = head.num_classes
        self.image_nms = ImageNMS(self.iou_thr, self.max_per_img, REJECTED)

    def openvino_extensions(self) -> list:
        """What ``openvino.convert_model`` needs to convert this module
        (:mod:`.image_nms`: OpenVINO's NMS, stopping at ``max_per_img``)."""
        return openvino_extensions()

    def forward(self, x: torch.Tensor, img_shape: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Detections of a padded batch.

        Args:
            x: The normalized, padded batch ``[B, 3, H, W]``.
            img_shape: ``[B, 2]`` float (h, w) of each image before padding.
        """
        feats = self.detector.extract_feat(x)
        boxes, scores, labels, valid = self.candidates(feats, img_shape)
        # One form for both NMS places: rejected candidates score -1 (the
        # head's own threshold rule decided; a score factor may take a
        # valid score below score_thr, which mmdet keeps).
        valid = valid & candidate_mask(boxes, scores, self.nms_score_thr
                                       if self.nms_score_thr > 0 else -1.0,
                                       self.min_bbox_size)
        scores = torch.where(valid, scores, scores.new_full((), -1.0))
        if self.nms == 'host':
            return boxes, scores, labels
        # Boxes clipped to their images lie within the largest side: no
        # reduction over all their coordinates to find how far apart to
        # shift the classes.
        bound = img_shape.max() if self.candidates.clips_boxes else None
        return select_detections(boxes, scores, labels, REJECTED,
                                 self.iou_thr, self.max_per_img,
                                 self.num_classes,
                                 class_agnostic=self.class_agnostic,
                                 offset=self.offset, nms=self.image_nms,
                                 bound=bound)


def candidate_mask(boxes: torch.Tensor, scores: torch.Tensor,
                   score_thr: float, min_bbox_size: float) -> torch.Tensor:
    """The candidates NMS considers: score above ``score_thr`` and, unless
    ``min_bbox_size`` is negative, both box sides above it (mmdet's
    ``filter_scores_and_topk`` and ``min_bbox_size`` test)."""
    valid = scores > score_thr
    if min_bbox_size >= 0:
        valid = valid & (boxes[..., 2] - boxes[..., 0] > min_bbox_size) \
            & (boxes[..., 3] - boxes[..., 1] > min_bbox_size)
    return valid


def select_detections(boxes: torch.Tensor, scores: torch.Tensor,
                      labels: torch.Tensor, score_thr: float,
                      iou_thr: float, max_per_img: int, num_classes: int,
                      min_bbox_size: float = -1,
                      class_agnostic: bool = False, offset: int = 0,
                      nms: Optional[ImageNMS] = None,
                      bound: Optional[torch.Tensor] = None
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """NMS per image (class-aware unless ``class_agnostic``) and padding to
    ``max_per_img`` rows.

    The tail of :class:`DetectorExport`: traced into the IR by the graph
    form, run by the inferencer after a ``--nms host`` IR, so both are one
    code path.

    Args:
        boxes: ``[B, N, 4]`` decoded, clipped candidate boxes.
        scores: ``[B, N]`` their scores.
        labels: ``[B, N]`` their classes (int64).
        score_thr, iou_thr, max_per_img, min_bbox_size: ``test_cfg``'s.
        num_classes (int): The head's class count.
        class_agnostic (bool): Boxes of different classes suppress each
            other (``test_cfg.nms.class_agnostic``).
        offset (int): mmcv's NMS ``offset`` (0 or 1): box sides count
            ``x2 - x1 + offset`` pixels in the IoU.
        nms: The :class:`.image_nms.ImageNMS` of ``iou_thr``,
            ``max_per_img`` and ``score_thr`` (None: made here). The export
            passes its own, a submodule, where the conversion finds it.
        bound: An upper bound of the box coordinates (the export's: the
            largest image side, its boxes being clipped); None: computed.

    Returns:
        ``dets [B, max_per_img, 5]`` (x1, y1, x2, y2, score) by decreasing
        score and ``labels [B, max_per_img]``, padded with 0 and -1.

    Example:
        >>> boxes = torch.tensor([[[0., 0, 10, 10], [1, 1, 10, 10]]])
        >>> dets, labels = select_detections(
        ...     boxes, torch.tensor([[0.9, 0.8]]), torch.tensor([[0, 0]]),
        ...     0.05, 0.5, 3, 2)
        >>> dets[0, :, 4].tolist(), labels.tolist()
        ([0.8999999761581421, 0.0, 0.0], [[0, -1, -1]])
    """
    batch, num = scores.shape
    if nms is None:
        nms = ImageNMS(iou_thr, max_per_img, score_thr)
    if min_bbox_size >= 0:
        valid = candidate_mask(boxes, scores, score_thr, min_bbox_size)
        scores = torch.where(valid, scores, scores.new_full((), score_thr))
    # (image, class) pairs, or images when class-agnostic, never suppress
    # each other.
    nms_boxes = boxes if class_agnostic else apart(boxes, labels, bound)
    # mmcv's offset adds to the sides: the IoU of boxes 1 px larger.
    if offset:
        nms_boxes = nms_boxes + boxes.new_tensor([0.0, 0.0, offset, offset])
    # By decreasing score, at most max_per_img of each image.
    keep = nms(nms_boxes, scores)
    image = keep[:, 0]
    flat = image * num + keep[:, 1]
    boxes, scores, labels = (boxes.reshape(-1, 4)[flat],
                             scores.reshape(-1)[flat],
                             labels.reshape(-1)[flat])
    slot = image * max_per_img + rank_within(image, batch)
    dets = scores.new_zeros((batch * max_per_img, 5))
    out_labels = torch.full((batch * max_per_img, ), -1, dtype=torch.long,
                            device=labels.device)
    # scatter, not index_put: OpenVINO converts aten::scatter.
    dets = dets.scatter(0, slot.unsqueeze(1).expand(-1, 5),
                        torch.cat([boxes, scores.unsqueeze(1)], dim=1))
    out_labels = out_labels.scatter(0, slot, labels)
    return (dets.reshape(batch, max_per_img, 5),
            out_labels.reshape(batch, max_per_img))


def nms_place(meta: Dict) -> str:
    """Where the NMS of the export ``meta`` describes runs: its
    ``postprocess.nms``; ``'graph'`` for exports that predate the option."""
    return (meta.get('postprocess', None) or {}).get('nms', 'graph')


def real_rows(dets: np.ndarray, labels: np.ndarray) -> Dict[str, np.ndarray]:
    """An image's ``dets [K, 5]``, ``labels [K]`` (padded with label -1)
    as the real rows' ``bboxes``, ``scores``, ``labels``."""
    real = labels >= 0
    return dict(bboxes=dets[real, :4], scores=dets[real, 4],
                labels=labels[real])


class DetectionTask(DeployTask):
    """mmdet single-stage detectors; the input follows each image's aspect
    ratio (keep-ratio resize, padding to the size divisor).

    Export option ``nms`` (``tools/deploy.py --nms``): ``'graph'`` (the
    default) or ``'host'`` (see the module doc);
    ``get_task('detection').with_options(nms='host')`` is the task of such
    an export.
    """

    name = 'detection'
    metric = ('CocoMetric', 'coco/bbox_mAP', 1.0)
    scope = 'mmdet'
    model_kind = 'detector'
    input_names = ('input', 'img_shape')
    output_names = ('dets', 'labels')
    export_options = dict(nms=NMS_PLACES)
    whole_test_set = ('CocoMetric evaluates every image of the annotation '
                      'file')
    nms = 'graph'
    model_api_type = 'SSD'  # reads dets [1, N, 5] + labels [1, N]
    # int8: the head, decoding and NMS stay float (whole-model int8 cost
    # the shapes demo 10 points of mAP; docs/deploy.md, "INT8").
    int8_float_from = ('detector.bbox_head', )

    def with_options(self, nms: str = 'graph') -> 'DetectionTask':
        if nms not in NMS_PLACES:
            raise ValueError(f'nms must be one of {list(NMS_PLACES)}, got '
                             f'{nms!r}')
        task = copy.copy(self)
        task.nms = nms
        task.output_names = (HOST_NMS_OUTPUTS if nms == 'host' else
                             type(self).output_names)
        return task

    @property
    def accepted_outputs(self) -> List[List[str]]:
        return super().accepted_outputs + [list(HOST_NMS_OUTPUTS)]

    def check_exportable(self, model: nn.Module) -> None:
        """The detector and head refusals first (two-stage, DETR-like:
        :func:`.dense_heads.head_candidates`), then the layers'."""
        head_candidates(model)
        super().check_exportable(model)

    def wrap(self, model: nn.Module) -> nn.Module:
        return DetectorExport(model, nms=self.nms).eval()

    def num_classes(self, model: nn.Module) -> int:
        return model.bbox_head.num_classes

    def meta_fields(self, model: nn.Module) -> Dict:
        """``postprocess.nms`` (where the NMS runs) and, for ``'host'``,
        what the host NMS needs besides ``score_threshold``,
        ``max_per_img`` and ``classes``: ``iou_threshold``,
        ``min_bbox_size``, ``class_agnostic`` and ``offset``."""
        wrapper = DetectorExport(model, nms=self.nms)
        postprocess = dict(nms=self.nms)
        if not wrapper.candidates.clips_boxes:
            # YOLOX: mmdet leaves its boxes unclipped; the inferencer too.
            postprocess.update(clip=False)
        if self.nms == 'host':
            postprocess.update(iou_threshold=wrapper.iou_thr,
                               min_bbox_size=wrapper.min_bbox_size,
                               class_agnostic=wrapper.class_agnostic,
                               offset=wrapper.offset)
        return dict(postprocess=postprocess,
                    score_threshold=wrapper.score_thr,
                    max_per_img=wrapper.max_per_img)

    def model_api_fields(self, meta: Dict) -> Dict[str, str]:
        """``confidence_threshold``: the graph's ``score_thr`` (Model API
        keeps scores above it, as the graph does)."""
        return dict(confidence_threshold=str(meta['score_threshold']))

    def model_api_unsupported(self, meta: Dict) -> str:
        """The NMS must be in the graph: Model API's SSD wrapper reads
        ``dets`` + ``labels``."""
        if nms_place(meta) != 'graph':
            return ('a detector with its NMS in the graph (--nms graph) '
                    f'only, got postprocess.nms {nms_place(meta)!r}')
        return ''

    def model_api_outputs(self, outputs: list, resized_hw, image_hw,
                          meta: Dict) -> list:
        """Boxes from the resized image into the export-size frame Model
        API stretches over the image (``orig_width x orig_height``,
        ``resize_type='standard'``): x times ``orig_width / resized_w``."""
        import openvino.opset13 as ops
        frame = np.array(meta['input']['export_size'], np.float32)
        hw = ops.divide(ops.constant(frame), resized_hw)  # (fy, fx)
        fx, fy = (ops.gather(hw, ops.constant(np.int64(i)),
                             ops.constant(np.int64(0))) for i in (1, 0))
        one = ops.constant(np.float32(1.0))
        factor = ops.concat([ops.unsqueeze(v, ops.constant(np.int64(0)))
                             for v in (fx, fy, fx, fy, one)], 0)
        return [ops.multiply(outputs[0], factor).output(0)] + outputs[1:]

    def check_meta(self, meta: Dict, path: str) -> None:
        """``postprocess.nms`` fits the outputs; a host NMS has its
        parameters. ``postprocess`` null or without ``nms`` (exports before
        ``--nms``): ``'graph'``."""
        post = meta.get('postprocess', None)
        if post is not None and not isinstance(post, dict):
            raise DeployFormatError(f"{path}: 'postprocess' must be a JSON "
                                    f'object or null; got {post!r}')
        nms = nms_place(meta)
        if nms not in NMS_PLACES:
            raise DeployFormatError(
                f"{path}: 'postprocess.nms' must be one of "
                f'{list(NMS_PLACES)}; got {nms!r}')
        want = list(HOST_NMS_OUTPUTS if nms == 'host' else
                    type(self).output_names)
        if meta['outputs'] != want:
            raise DeployFormatError(
                f"{path}: 'outputs' must be {want} for postprocess.nms "
                f"{nms!r}; got {meta['outputs']}")
        if post is not None and not isinstance(post.get('clip', True),
                                               bool):
            raise DeployFormatError(f"{path}: 'postprocess.clip' must be "
                                    f"true or false; got {post['clip']!r}")
        if nms != 'host':
            return  # the IR applies them; the schema checks them if set
        if not isinstance(post.get('class_agnostic', False), bool):
            raise DeployFormatError(
                f"{path}: 'postprocess.class_agnostic' must be true or "
                f"false; got {post['class_agnostic']!r}")
        if post.get('offset', 0) not in (0, 1) or isinstance(
                post.get('offset', 0), bool):
            raise DeployFormatError(f"{path}: 'postprocess.offset' must be "
                                    f"0 or 1; got {post['offset']!r}")
        for node, key, check, prefix in (
                (post, 'iou_threshold', FRACTION, 'postprocess.'),
                (post, 'min_bbox_size', MIN_BBOX_SIZE, 'postprocess.'),
                (meta, 'score_threshold', FRACTION, ''),
                (meta, 'max_per_img', POSITIVE_INT, '')):
            check_field(node, key, check, path, prefix)

    def example_inputs(self, shape: Tuple[int, int],
                       batch: int) -> Tuple[torch.Tensor, ...]:
        """The image batch and ``img_shape``: the whole input."""
        x, = super().example_inputs(shape, batch)
        return x, torch.tensor([list(shape)] * batch, dtype=torch.float32)

    def postprocess(self, outputs: List[np.ndarray], info: Dict, index: int,
                    meta: Dict, path: str) -> Dict:
        """``bboxes`` (n, 4) x1y1x2y2 in original pixels, ``scores``,
        ``labels``, ``class_names``; after a ``--nms host`` IR, the NMS
        first (:meth:`host_nms`)."""
        classes = meta['classes']
        if nms_place(meta) == 'host':
            outputs = self.host_nms([o[index:index + 1] for o in outputs],
                                    meta)
            index = 0
        dets, labels = outputs[0][index], outputs[1][index]
        keep = labels >= 0
        dets, labels = dets[keep], labels[keep]
        # A label beyond 'classes': a deploy.json that does not belong to
        # the IR (a detector's class count is not in its outputs' shapes,
        # so this cannot be checked at load).
        if len(labels) and int(labels.max()) >= len(classes):
            raise DeployFormatError(
                f"{path}: 'classes' has {len(classes)} names "
                f'but the model returned label {int(labels.max())}')
        h, w = info['img_shape']
        boxes = dets[:, :4].copy()
        # As mmdet: clip to the resized (unpadded) image, then rescale;
        # postprocess.clip false: a head whose boxes mmdet leaves as they
        # are (YOLOX).
        if (meta.get('postprocess', None) or {}).get('clip', True):
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        sx, sy = info['scale']
        boxes /= np.array([sx, sy, sx, sy], np.float32)
        return dict(bboxes=boxes, scores=dets[:, 4],
                    labels=labels.astype(np.int64),
                    class_names=[classes[i] for i in labels])

    def host_nms(self, outputs: List[np.ndarray],
                 meta: Dict) -> List[np.ndarray]:
        """The outputs of a ``--nms host`` IR (``boxes``, ``scores``,
        ``labels``, batched) -> what the graph form outputs (``dets``,
        ``labels``), with the parameters ``deploy.json`` records.

        Example:
            >>> inferencer = OpenVINOInferencer('deploy/det-host')  # doctest: +SKIP
            >>> raw = inferencer.infer_tensor(x)  # doctest: +SKIP
            >>> dets, labels = inferencer.deploy_task.host_nms(
            ...     raw, inferencer.meta)  # doctest: +SKIP
        """
        post = meta['postprocess']
        boxes, scores, labels = (torch.from_numpy(np.ascontiguousarray(o))
                                 for o in outputs)
        # The IR scored the candidates it rejected (score threshold, box
        # size) -1; thresholding again would drop the valid ones a score
        # factor took below score_threshold, which mmdet keeps.
        with torch.no_grad():
            dets, labels = select_detections(
                boxes.float(), scores.float(), labels.long(), REJECTED,
                post['iou_threshold'], meta['max_per_img'],
                len(meta['classes']),
                class_agnostic=post.get('class_agnostic', False),
                offset=post.get('offset', 0))
        return [dets.numpy(), labels.numpy()]

    @staticmethod
    def _mmdet_predict(wrapper: nn.Module,
                       example: Tuple[torch.Tensor, ...]) -> List[np.ndarray]:
        """mmdet's own ``predict`` of the detector on the example input
        (each image's ``img_shape`` from ``example``, scale 1), as ``dets``
        and ``labels``: an option of ``test_cfg`` that the export did not
        follow cannot pass the check."""
        from mmdet.structures import DetDataSample
        x, img_shape = example
        pad = tuple(int(v) for v in x.shape[2:])
        samples = []
        for h, w in img_shape.round().long().tolist():
            samples.append(DetDataSample(metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), pad_shape=pad,
                batch_input_shape=pad, scale_factor=(1.0, 1.0))))
        with torch.no_grad():
            results = wrapper.detector.predict(x, samples, rescale=True)
        rows = max([1] + [len(r.pred_instances) for r in results])
        dets = np.zeros((len(results), rows, 5), np.float32)
        labels = np.full((len(results), rows), -1, np.int64)
        for i, result in enumerate(results):
            pred = result.pred_instances
            n = len(pred)
            dets[i, :n, :4] = pred.bboxes.numpy()
            dets[i, :n, 4] = pred.scores.numpy()
            labels[i, :n] = pred.labels.numpy()
        return [dets, labels]

    def _final_outputs(self, wrapper: nn.Module,
                       out: List[np.ndarray]) -> List[np.ndarray]:
        """A ``--nms host`` IR's candidates through the host NMS with the
        wrapper's settings (what the inferencer does); else ``out``."""
        if self.nms != 'host':
            return out
        return self.host_nms(out, dict(
            postprocess=dict(iou_threshold=wrapper.iou_thr,
                             class_agnostic=wrapper.class_agnostic,
                             offset=wrapper.offset),
            max_per_img=wrapper.max_per_img,
            classes=[None] * wrapper.num_classes))

    def conversion_check(self, wrapper: nn.Module,
                         example: Tuple[torch.Tensor, ...],
                         out: List[np.ndarray]) -> Dict:
        """Detections matched one to one (same image and class, IoU >=
        0.99, :func:`.det_matching.match_detections`): rows are compared,
        not positions. OK when the matched scores are within ``1e-3`` and
        every unmatched row is a tie within that tolerance or what a tie
        suppressed (the NMS, ``nms_pre`` or ``max_per_img`` kept the other
        of two near-equal scores, :func:`.det_matching.unexplained`).
        Compared: mmdet's ``predict`` of the detector on ``example``
        (:meth:`_mmdet_predict`) and the IR's final detections (a host-NMS
        IR's candidates through the host NMS, :meth:`_final_outputs`)."""
        ref = self._mmdet_predict(wrapper, example)
        out = self._final_outputs(wrapper, out)
        if not np.isfinite(ref[0]).all():
            # Random weights can overflow a box on the noise input (YOLOX's
            # exp); NMS over infinite boxes is not defined to agree.
            return dict(ok=True, max_abs_diff=None, summary=(
                'not comparable: torch gives non-finite boxes on the '
                'example input (untrained weights?)'))
        tol = 1e-3
        lone = total = 0
        d_score = d_box = 0.0
        for image in range(ref[0].shape[0]):
            r, o = (real_rows(dets[image], labels[image])
                    for dets, labels in (ref, out))
            pairs, lone_r, lone_o = match_detections(r, o)
            total += max(len(r['scores']), len(o['scores']))
            lone += unexplained(r, o, lone_r, lone_o, tol)
            for i, j in pairs:
                d_score = max(d_score, abs(float(r['scores'][i] -
                                                 o['scores'][j])))
                d_box = max(d_box, float(np.abs(r['bboxes'][i] -
                                                o['bboxes'][j]).max()))
        return dict(ok=lone == 0 and d_score <= tol,
                    max_abs_diff=max(d_score, d_box), summary=(
                        f'{total - lone}/{total} detections of mmdet\'s '
                        f'predict on the example input matched or tied '
                        f'(IoU >= 0.99), max |IR - torch| score '
                        f'{d_score:.3g}, box {d_box:.3g} px'))

    def to_data_sample(self, sample, result: Dict) -> None:
        from mmengine.structures import InstanceData
        sample.pred_instances = InstanceData(
            bboxes=torch.from_numpy(result['bboxes']).float(),
            scores=torch.from_numpy(result['scores']).float(),
            labels=torch.from_numpy(result['labels']).long())

    def agreement(self, a: Dict, b: Dict, iou_thr: float = 0.5,
                  score_thr: float = 0.3) -> np.ndarray:
        """The fraction of boxes (score >= ``score_thr`` in either) matched
        by a same-class box of the other with IoU >= ``iou_thr``."""
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

    def summarize(self, result: Dict, classes: Sequence[str],
                  score_thr: float) -> Dict:
        keep = result['scores'] >= score_thr
        return dict(detections=[
            dict(bbox=[round(float(v), 2) for v in box], score=float(score),
                 label=int(label), class_name=classes[label])
            for box, score, label in zip(result['bboxes'][keep],
                                         result['scores'][keep],
                                         result['labels'][keep])])

    def one_line(self, record: Dict, score_thr: float) -> str:
        dets = record['detections']
        return f'{len(dets)} detections >= {score_thr:g}' + (
            ': ' + ', '.join(f"{d['class_name']} {d['score']:.2f}"
                             for d in dets[:10]) if dets else '') + (
            ', ...' if len(dets) > 10 else '')

    def draw(self, img: np.ndarray, result: Dict, classes: Sequence[str],
             score_thr: float) -> np.ndarray:
        """Boxes at or above ``score_thr`` with class and score, one colour
        per class."""
        img = img.copy()
        colors = palette(len(classes))
        for box, score, label in zip(result['bboxes'], result['scores'],
                                     result['labels']):
            if score < score_thr:
                continue
            color = tuple(int(c) for c in colors[label])
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), color, 2)
            cv2.putText(img, f'{classes[label]} {score:.2f}',
                        (x1, max(y1 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        color, 1, cv2.LINE_AA)
        return img
