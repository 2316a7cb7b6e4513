# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""mmdet dense heads up to the NMS, batched and traceable.

Which heads export, and how each one's outputs become the candidates
(boxes, scores, labels and which of them are valid) that the detection
export then suppresses (:mod:`.detection`). One class per kind of
post-processing mmdet does:

- :class:`DenseCandidates`: ``BaseDenseHead._predict_by_feat_single``
  (RetinaNet, ATSS, FCOS, SSD, RTMDet, our ``PicoHead``), with the score
  factors (FCOS's and ATSS's centerness, any third output of ``forward``)
  multiplied in after the ``nms_pre``/``score_thr`` selection on the class
  scores, as mmdet's ``_bbox_post_process`` does; and GFL's, whose box
  branch is a distribution over distances (its ``integral``, then
  distances from the anchor centres);
- :class:`YOLOXCandidates`: ``YOLOXHead.predict_by_feat``: one label per
  prior (the best class), class score times objectness, threshold on the
  product, no ``nms_pre`` and no clipping.

Anything else (two-stage and DETR-like detectors, heads that override
mmdet's post-processing in a way not listed here, e.g. mask heads) is
refused up front by :func:`head_candidates` with one line naming the class
and what exports (:class:`~mmlcnetv2.errors.UnsupportedModelError`):
a traced graph of a post-processing we do not follow would export fine
and detect wrongly.

Example:
    >>> candidates = head_candidates(detector)  # doctest: +SKIP
    >>> boxes, scores, labels, valid = candidates(feats, img_shape)
    ... # doctest: +SKIP
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ...errors import UnsupportedModelError

#: What exports, for the refusal messages.
EXPORTABLE = ('single-stage detectors with RetinaNet/ATSS/SSD-like '
              '(DeltaXYWHBBoxCoder), FCOS/RTMDet/PicoHead-like '
              '(DistancePointBBoxCoder), GFL or YOLOX heads')
# BaseDenseHead's post-processing methods: a head that overrides one of
# them post-processes its own way, which only the listed adapters follow.
_POSTPROCESS = ('predict', 'predict_by_feat', '_predict_by_feat_single',
                '_bbox_post_process')


def flat_len(scores: torch.Tensor) -> torch.Tensor:
    """``anchors * classes`` of ``scores [B, anchors, classes]`` as a tensor
    (traced as a shape computation, not frozen into a constant)."""
    shape = torch._shape_as_tensor(scores)
    return shape[1] * shape[2]


def _flatten(maps: torch.Tensor, channels: int) -> torch.Tensor:
    """``[B, A * channels, H, W]`` -> ``[B, H * W * A, channels]``, mmdet's
    prior order (location-major, then anchor)."""
    return maps.permute(0, 2, 3, 1).reshape(maps.shape[0], -1, channels)


def clip_to(boxes: torch.Tensor, img_shape: torch.Tensor) -> torch.Tensor:
    """Boxes ``[B, N, 4]`` clipped to each image's ``(h, w)``, as mmdet's
    decoders do with ``max_shape`` (their ONNX branch imports the removed
    ``mmdet.core``, hence our own).

    One bound per image, ``[B, 1, 4]``, instead of clipping the four sides
    apart and stacking them: OpenVINO's Concat along a last axis of 4 is a
    reference kernel that cost as much as a NonZero over all of a level's
    scores."""
    hw = img_shape.to(boxes.dtype)
    wh = hw[:, 1:2], hw[:, 0:1]
    bound = torch.cat([*wh, *wh], dim=1).unsqueeze(1)
    return torch.minimum(boxes.clamp(min=0), bound)


def rank_within(groups: torch.Tensor, num_groups: int) -> torch.Tensor:
    """Each element's rank among the elements of its group before it
    (``groups`` in ``[0, num_groups)``), as a graph computes it: a cumulative
    sum of the one-hot groups.

    Example:
        >>> rank_within(torch.tensor([1, 0, 1, 1]), 2)
        tensor([0, 0, 1, 2])
    """
    onehot = (groups.unsqueeze(1) == torch.arange(
        num_groups, device=groups.device).unsqueeze(0)).long()
    return (onehot.cumsum(0) * onehot).sum(1) - 1


def top_above(scores: torch.Tensor, thr: float, k: int,
              ends: Optional[torch.Tensor] = None, width: Optional[int] = None,
              activate: Optional[Callable] = None
              ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per row and per segment of it, the ``k`` best of the scores above
    ``thr``, by decreasing score, padded with -1 (index 0): mmdet's
    ``filter_scores_and_topk`` order (threshold, then top-k) as a graph,
    for all of a head's levels at once.

    The same valid candidates as ``topk(k)`` of each segment then the
    threshold, but the sort only sees the scores above ``thr`` (for a
    trained detector, a few hundred of the ``H * W * classes``): a
    ``TopK`` of ``nms_pre`` over all of them was most of what decoding and
    NMS cost in the graph. One threshold, one sort and one scatter for all
    the levels, not one per level: in OpenVINO each node costs a few
    microseconds whatever its size, and these ones come in dozens
    (``docs/benchmarks.md``, like-for-like rows).

    Args:
        scores: ``[B, L]`` scores in ``[0, 1]``.
        thr: Scores at or below it are dropped.
        k: Slots per row and segment.
        ends: ``[S]`` where each segment of a row ends (the last one at
            ``L``; a tensor, so that a graph keeps them dynamic); None:
            one segment.
        width: The scores come in groups of ``width`` (a prior's classes):
            only the groups whose best score is above ``thr`` are searched
            (a maximum over all, then a ``NonZero`` over the priors and one
            over their classes, instead of one over all the scores).
        activate: With ``width``: ``scores`` are logits of this increasing
            function (sigmoid), applied only to the groups' best logits and
            to the groups searched.

    Returns:
        ``[B, S * k]`` scores (segment after segment) and their indices
        into ``L``.

    Example:
        >>> s = torch.tensor([[0.1, 0.9, 0.5, 0.7], [0.6, 0.0, 0.8, 0.2]])
        >>> top_above(s, 0.3, 2)
        (tensor([[0.9000, 0.7000],
                [0.8000, 0.6000]]), tensor([[1, 3],
                [2, 0]]))
        >>> top_above(s, 0.3, 1, ends=torch.tensor([2, 4]))
        (tensor([[0.9000, 0.7000],
                [0.6000, 0.8000]]), tensor([[1, 3],
                [0, 2]]))
    """
    batch, length = scores.shape
    segments = 1 if ends is None else ends.shape[0]
    flat = scores.reshape(-1)
    if width is None:
        pos = (flat > thr).nonzero().squeeze(1)
        vals = flat[pos]
    else:
        pos, vals = _above_by_group(flat.reshape(-1, width), thr, activate)
    order = torch.argsort(vals, descending=True)
    pos, vals = pos[order], vals[order]
    row = torch.div(pos, length, rounding_mode='floor')
    within = pos - row * length
    group = row
    if ends is not None:
        # A score's segment: how many segments end at or before it.
        group = row * segments + (within.unsqueeze(1) >= ends[:-1].unsqueeze(
            0)).long().sum(1)
    # Rank of each score within its group (all groups in one sort).
    rank = rank_within(group, batch * segments)
    # Ranks beyond k go to one spare slot past the end, cut off after the
    # scatter: no boolean mask (a NonZero and three gathers in a graph).
    spare = batch * segments * k
    slot = torch.where(rank < k, group * k + rank, spare)
    # scatter, not index_put: OpenVINO converts aten::scatter.
    out = scores.new_full((spare + 1, ), -1.0).scatter(0, slot, vals)
    idx = pos.new_zeros((spare + 1, )).scatter(0, slot, within)
    return (out[:spare].reshape(batch, segments * k),
            idx[:spare].reshape(batch, segments * k))


def _above_by_group(groups: torch.Tensor, thr: float,
                    activate: Optional[Callable] = None
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Positions (row-major) and scores of the scores above ``thr`` in
    ``groups [G, width]``, found group first (see :func:`top_above`)."""
    width = groups.shape[1]
    best = groups.amax(1)
    if activate is not None:
        best = activate(best)
    rows = (best > thr).nonzero().squeeze(1)
    searched = groups[rows]
    if activate is not None:
        searched = activate(searched)
    searched = searched.reshape(-1)
    hit = (searched > thr).nonzero().squeeze(1)
    row = torch.div(hit, width, rounding_mode='floor')
    return rows[row] * width + (hit - row * width), searched[hit]


class DenseCandidates(nn.Module):
    """``BaseDenseHead._predict_by_feat_single`` up to the NMS, batched.

    Per level the ``nms_pre`` best (prior, class) scores; valid where the
    class score is above ``score_thr`` (mmdet's ``filter_scores_and_topk``:
    the ``nms_pre`` best overall, then masked, are the same set); times
    the sigmoid of the prior's score factor where the head's ``forward``
    gives a third output (mmdet passes it as ``score_factors``: FCOS's and
    ATSS's centerness); boxes decoded and clipped to ``img_shape``.

    Args:
        head: The detector's ``bbox_head`` (checked by
            :func:`head_candidates`).
        fixed_count: Keep ``levels * nms_pre`` candidates whatever the
            scores (a graph without ``NonZero``, for ``--nms host``);
            False: per level only the scores above ``score_thr`` are
            ranked (:func:`top_above`), the rest padded with -1.
    """

    clips_boxes = True

    def __init__(self, head: nn.Module, fixed_count: bool = True) -> None:
        super().__init__()
        from mmdet.models.dense_heads import GFLHead
        self.head = head
        self.fixed_count = fixed_count
        cfg = head.test_cfg
        self.nms_pre = int(cfg.get('nms_pre', -1))
        self.score_thr = float(cfg.get('score_thr', 0.0))
        # GFL-like: distributions over distances from the anchor centres.
        self.integral = isinstance(head, GFLHead)
        # PicoHead: distributions of distances, in strides, for all levels
        # at once; times each candidate's stride after the selection.
        self.in_strides = getattr(head, 'distances_in_strides', None)
        from mmdet.models.task_modules.coders import DistancePointBBoxCoder
        self.distance_coder = type(head.bbox_coder) is DistancePointBBoxCoder

    def _box_predictions(self, bbox_preds: Sequence[torch.Tensor]
                         ) -> torch.Tensor:
        """``[B, N, 4]`` over all levels: what the head's coder decodes
        (PicoHead's: in strides)."""
        head = self.head
        if self.in_strides is not None:
            return self.in_strides(bbox_preds).transpose(1, 2)
        if not self.integral:
            return torch.cat([_flatten(b, 4) for b in bbox_preds], dim=1)
        # GFLHead._predict_by_feat_single: integral, times the stride.
        return torch.cat([
            head.integral(_flatten(b, 4 * (head.reg_max + 1))).reshape(
                b.shape[0], -1, 4) * stride[0]
            for b, stride in zip(bbox_preds, head.prior_generator.strides)
        ], dim=1)

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Class logits ``[B, N, cls_out_channels]`` -> scores ``[B, N,
        classes]``, as mmdet's head."""
        if self.head.use_sigmoid_cls:
            return logits.sigmoid()
        return logits.softmax(-1)[..., :-1]

    def _select(self, logits: Sequence[torch.Tensor], num_classes: int
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per level ``[B, nms_pre]`` (prior, class) scores and their
        indices into the levels' scores laid end to end (prior-major, so
        ``index // classes`` is the prior across levels), from the class
        logits ``[B, N, cls_out_channels]`` of each level."""
        batch = logits[0].shape[0]
        if self.nms_pre > 0 and not self.fixed_count:
            ends = torch.cumsum(torch.stack(
                [torch._shape_as_tensor(x)[1] * num_classes for x in logits]),
                0)
            flat = torch.cat(logits, dim=1)
            if self.head.use_sigmoid_cls:
                # Increasing: only the priors' best logits and the priors
                # searched need it.
                activate = torch.sigmoid
            else:
                flat, activate = self._activate(flat), None
            return top_above(flat.reshape(batch, -1), self.score_thr,
                             self.nms_pre, ends, width=num_classes,
                             activate=activate)
        scores = [self._activate(x) for x in logits]
        flats = [s.reshape(batch, -1) for s in scores]
        vals, idxs, start = [], [], 0
        for level, flat in zip(scores, flats):
            if self.nms_pre > 0:
                # Padding with -1 scores (never above a threshold) keeps k
                # fixed whatever the input size, so a dynamic-shape IR
                # never asks for k > length.
                pad = flat.new_full((batch, self.nms_pre), -1.0)
                val, idx = torch.cat([flat, pad], dim=1).topk(
                    self.nms_pre, dim=1)
                idx = torch.minimum(idx, idx.new_tensor(0) +
                                    flat_len(level) - 1)
            else:
                val, idx = flat.sort(dim=1, descending=True)
            vals.append(val)
            idxs.append(idx + start)
            start = start + flat_len(level)
        return torch.cat(vals, dim=1), torch.cat(idxs, dim=1)

    def forward(self, feats: Sequence[torch.Tensor], img_shape: torch.Tensor
                ) -> Tuple[torch.Tensor, ...]:
        """``boxes [B, N, 4]`` (clipped), ``scores``, ``labels``, ``valid``
        ``[B, N]`` of ``N = levels * nms_pre`` candidates."""
        head = self.head
        outs = head(feats)
        cls_scores = outs[0]
        batch = cls_scores[0].shape[0]
        # (AnchorGenerator has no with_stride; point generators have.)
        strides = dict(with_stride=True) if self.in_strides is not None else {}
        mlvl_priors = head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores], dtype=cls_scores[0].dtype,
            device=cls_scores[0].device, **strides)
        if self.integral:
            mlvl_priors = [head.anchor_center(p) for p in mlvl_priors]
        if self.distance_coder:
            # (x, y, x, y), then the strides where the distances need them
            mlvl_priors = [torch.cat([p[:, :2], p[:, :2], p[:, 2:3]], dim=1)
                           if self.in_strides is not None else
                           torch.cat([p[:, :2], p[:, :2]], dim=1)
                           for p in mlvl_priors]
        logits = [_flatten(c, head.cls_out_channels) for c in cls_scores]
        num_classes = head.cls_out_channels - (not head.use_sigmoid_cls)
        cls, idx = self._select(logits, num_classes)
        prior_idx = torch.div(idx, num_classes, rounding_mode='floor')
        labels = idx - prior_idx * num_classes
        deltas = self._box_predictions(outs[1])
        # Rows of the flattened batch: a Gather, where gather() along dim 1
        # is a Broadcast of the index and a GatherElements in a graph.
        first = torch.arange(batch, device=idx.device).unsqueeze(1) * \
            deltas.shape[1]
        deltas = deltas.reshape(-1, 4)[prior_idx + first]
        priors = torch.cat(mlvl_priors)[prior_idx]
        if self.in_strides is not None:
            deltas = deltas * priors[..., 4:]
            priors = priors[..., :4]
        scores = cls
        if len(outs) > 2:
            # The prior's score factor, after the selection on the class
            # scores, as mmdet's _bbox_post_process.
            factors = torch.cat([_flatten(f, 1) for f in outs[2]], dim=1)
            scores = cls * factors.reshape(batch, -1).sigmoid().gather(
                1, prior_idx)
        num = scores.shape[1]
        if self.distance_coder:
            # distance2bbox, on priors laid out (x, y, x, y): the same sums
            # without its stack (see clip_to).
            boxes = priors + deltas * deltas.new_tensor([-1., -1., 1., 1.])
        else:
            boxes = head.bbox_coder.decode(
                priors.reshape(-1, priors.shape[-1]), deltas.reshape(-1, 4),
                max_shape=None).reshape(batch, num, 4)
        # The threshold is on the class score, before the score factor.
        return clip_to(boxes, img_shape), scores, labels, cls > self.score_thr


class YOLOXCandidates(nn.Module):
    """``YOLOXHead.predict_by_feat`` up to the NMS, batched: every prior
    with its best class, scored ``class score * objectness``, valid where
    that product is at least ``score_thr``; boxes not clipped (mmdet's
    YOLOX does not clip them)."""

    clips_boxes = False

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head
        self.score_thr = float(head.test_cfg.get('score_thr', 0.0))

    def forward(self, feats: Sequence[torch.Tensor], img_shape: torch.Tensor
                ) -> Tuple[torch.Tensor, ...]:
        head = self.head
        cls_scores, bbox_preds, objectness = head(feats)
        priors = torch.cat(head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores], dtype=cls_scores[0].dtype,
            device=cls_scores[0].device, with_stride=True))
        cls = torch.cat([_flatten(c, head.cls_out_channels)
                         for c in cls_scores], dim=1).sigmoid()
        boxes = head._bbox_decode(
            priors, torch.cat([_flatten(b, 4) for b in bbox_preds], dim=1))
        obj = torch.cat([_flatten(o, 1) for o in objectness],
                        dim=1).squeeze(-1).sigmoid()
        best, labels = cls.max(-1)
        scores = obj * best
        return boxes, scores, labels, scores >= self.score_thr


def _overrides(head: nn.Module, base: type) -> List[str]:
    """The post-processing methods ``type(head)`` has not from ``base``."""
    return [name for name in _POSTPROCESS
            if getattr(type(head), name, None) is not getattr(base, name)]


def head_candidates(detector: nn.Module,
                    fixed_count: bool = True) -> nn.Module:
    """The candidates module of ``detector``'s head (``fixed_count``: see
    :class:`DenseCandidates`; YOLOX keeps every prior anyway).

    Raises:
        UnsupportedModelError: the detector or its head does not export
            (one line: the classes and what exports).
    """
    from mmdet.models.dense_heads import GFLHead, YOLOXHead
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
    from mmdet.models.detectors import SingleStageDetector
    from mmdet.models.task_modules.coders import (DeltaXYWHBBoxCoder,
                                                  DistancePointBBoxCoder)
    name = type(detector).__name__
    head = getattr(detector, 'bbox_head', None)
    if not isinstance(detector, SingleStageDetector) or not isinstance(
            head, BaseDenseHead):
        kind = ('a two-stage detector' if hasattr(detector, 'roi_head') else
                'not a single-stage detector with a dense head')
        raise UnsupportedModelError(
            f'{name} ({kind}) does not export; exports: {EXPORTABLE}')
    where = f'{name} with {type(head).__name__}'
    if isinstance(head, YOLOXHead) and not _overrides(head, YOLOXHead):
        return YOLOXCandidates(head)
    base = GFLHead if isinstance(head, GFLHead) else BaseDenseHead
    own = _overrides(head, base)
    if hasattr(head, 'decode_distances'):
        # PicoHead's predict_by_feat only decodes the distributions first.
        own = [m for m in own if m != 'predict_by_feat']
    coder = getattr(head, 'bbox_coder', None)
    if own or not isinstance(coder, (DeltaXYWHBBoxCoder,
                                     DistancePointBBoxCoder)):
        why = (f'its own {", ".join(own)}' if own else
               f'box coder {type(coder).__name__}')
        raise UnsupportedModelError(
            f'{where} does not export ({why}); exports: {EXPORTABLE}')
    if getattr(getattr(head, 'loss_cls', None), 'custom_cls_channels',
               False):
        raise UnsupportedModelError(
            f'{where} does not export (custom_cls_channels); exports: '
            f'{EXPORTABLE}')
    return DenseCandidates(head, fixed_count)
