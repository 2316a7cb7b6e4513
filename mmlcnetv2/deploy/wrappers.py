# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Export graphs: an OpenMMLab model as ``tensor in -> arrays out``.

Each wrapper takes the normalized ``float32 [B, 3, H, W]`` RGB/BGR input the
config's data preprocessor would produce (padding included) and returns what
a deployed model needs, with no Python-side post-processing left but the
mapping back to the original image:

* classification: ``logits [B, num_classes]``;
* detection (mmdeploy's convention): inputs ``input`` and ``img_shape
  [B, 2]`` (h, w of each resized image before padding); ``dets [B, K, 5]``
  (x1, y1, x2, y2, score) and ``labels [B, K]``, ``K = test_cfg.max_per_img``,
  padded with score 0 and label -1; decoding, clipping to ``img_shape``,
  score threshold and NMS are in the graph;
* segmentation: ``seg_logits [B, C, H, W]`` at the input size, as mmseg's
  ``encode_decode``; the crop of the padding, the bilinear resize to the
  original image and the argmax are the inferencer's (mmseg's
  ``postprocess_result``): a class map resized afterwards is not the same.

Why the graphs look as they do: OpenVINO's CPU plugin fuses an SE block
(reduce-mean, 1x1 convs, sigmoid, multiply) into one ``Subgraph`` only when
the pooling is a plain ``ReduceMean``; ``AdaptiveAvgPool2d(1)`` followed by
``view(x.size(0), -1)`` adds shape arithmetic and ``Reshape`` nodes.
:func:`mmlcnetv2.apis.build.use_mean_pooling` swaps those for ``x.mean((2, 3), keepdim=True)``.
"""
from typing import List, Tuple

import torch
import torch.nn as nn

from ..apis.build import GlobalMean, use_mean_pooling  # noqa: F401


class PooledConvHead(nn.Module):
    """:class:`PPLCNetV2Head` as PaddleClas's inference graph has it: the
    expansion is a 1x1 conv on the ``[B, C, 1, 1]`` pooled map, and the
    flattening a mean over that 1x1 map (no ``Reshape``).

    Same numbers as ``mean -> Linear``; OpenVINO's CPU plugin runs the 1x1
    conv with its convolution kernel, a little faster than the
    fully-connected kernel it picks for ``Linear`` + activation (0.39 vs
    0.45 ms for base's 512 -> 1280 on 2 AVX2 cores).

    Example:
        >>> from mmlcnetv2.models.heads import PPLCNetV2Head
        >>> head = PPLCNetV2Head(num_classes=5, in_channels=8,
        ...                      mid_channels=16).eval()
        >>> x = torch.randn(2, 8, 3, 3)
        >>> ref = head((x.mean((2, 3)),))
        >>> torch.allclose(PooledConvHead(head)(x), ref, atol=1e-6)
        True
    """

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        linear = head.expand
        self.expand = nn.Conv2d(linear.in_features, linear.out_features, 1,
                                bias=linear.bias is not None)
        self.expand.weight.data = linear.weight.detach()[:, :, None, None]
        if linear.bias is not None:
            self.expand.bias.data = linear.bias.detach()
        self.act = head.act
        self.fc = head.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.expand(x.mean((2, 3), keepdim=True)))
        return self.fc(x.mean((2, 3)))  # dropout: identity in eval


class ClassifierExport(nn.Module):
    """An mmpretrain ``ImageClassifier`` as ``image -> logits``.

    The neck (``GlobalAveragePooling``) is replaced by a plain mean over the
    spatial dims, which gives ``[B, C]`` without a ``Reshape``; a
    :class:`PPLCNetV2Head` behind it runs as :class:`PooledConvHead`.
    """

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        from mmpretrain.models.necks import GlobalAveragePooling
        neck = getattr(classifier, 'neck', None)
        if neck is not None and not isinstance(neck, GlobalAveragePooling):
            raise NotImplementedError(
                f'Exporting a classifier with neck {type(neck).__name__} is '
                'not supported; supported: GlobalAveragePooling or no neck.')
        if neck is not None and neck.gap.__class__.__name__ not in (
                'AdaptiveAvgPool2d', 'GlobalMean'):
            raise NotImplementedError(
                f'Only 2-D GlobalAveragePooling exports, got {neck.gap}')
        from ..models.heads import PPLCNetV2Head
        self.backbone = classifier.backbone
        self.pool = GlobalMean(keepdim=False) if neck is not None else None
        self.head = classifier.head
        self.conv_head = None
        if neck is not None and isinstance(classifier.head, PPLCNetV2Head):
            self.conv_head = PooledConvHead(classifier.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        if self.conv_head is not None:
            return self.conv_head(feats[-1])
        if self.pool is not None:
            feats = tuple(self.pool(f) for f in feats)
        return self.head(feats)


class SegmentorExport(nn.Module):
    """An mmseg ``EncoderDecoder`` as ``image -> logits at input size``.

    As mmseg's ``encode_decode`` in ``mode='whole'``: the head's logits
    resized bilinearly to the input size. Why not the class map: mmseg
    resizes these logits again, to the original image, before its argmax
    (``postprocess_result``); argmax first and a nearest resize of the map
    after disagrees along every class border (LR-ASPP on 427x640 photos:
    98.4-98.8 % of pixels equal to mmseg, against 99.999 % this way).
    """

    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        if segmentor.test_cfg.get('mode', 'whole') != 'whole':
            raise NotImplementedError(
                f"test_cfg.mode={segmentor.test_cfg.get('mode')!r}: only "
                "'whole' inference exports (sliding windows are a loop over "
                'crops outside the graph).')
        self.segmentor = segmentor
        self.align_corners = segmentor.decode_head.align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.segmentor.extract_feat(x)
        logits = self.segmentor.decode_head.forward(feats)
        return nn.functional.interpolate(
            logits, size=x.shape[2:], mode='bilinear',
            align_corners=self.align_corners)


def flat_len(scores: torch.Tensor) -> torch.Tensor:
    """``anchors * classes`` of ``scores [B, anchors, classes]`` as a tensor
    (traced as a shape computation, not frozen into a constant)."""
    shape = torch._shape_as_tensor(scores)
    return shape[1] * shape[2]


class DetectorExport(nn.Module):
    """An mmdet single-stage detector with decoding and NMS in the graph.

    Follows ``BaseDenseHead._predict_by_feat_single`` with the config's
    ``test_cfg`` (``nms_pre``, ``score_thr``, ``nms.iou_threshold``,
    ``max_per_img``), batched: per level the ``nms_pre`` best (anchor, class)
    scores, those above ``score_thr`` kept, boxes decoded and clipped to each
    image's ``img_shape`` (the resized image without its padding, as mmdet's
    ``max_shape``), class-aware NMS (torchvision's, which converts to OpenVINO's
    ``NonMaxSuppression``), then the ``max_per_img`` best per image.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
        from mmdet.models.task_modules.coders import (DeltaXYWHBBoxCoder,
                                                      DistancePointBBoxCoder)
        head = detector.bbox_head
        coder = getattr(head, 'bbox_coder', None)
        if not isinstance(head, BaseDenseHead) or not isinstance(
                coder, (DeltaXYWHBBoxCoder, DistancePointBBoxCoder)):
            raise NotImplementedError(
                f'Detection export supports single-stage dense heads with '
                f'DeltaXYWHBBoxCoder (RetinaNet-like) or '
                f'DistancePointBBoxCoder (PicoDet/RTMDet-like), got '
                f'{type(head).__name__} with {type(coder).__name__}.')
        if getattr(head.loss_cls, 'custom_cls_channels', False):
            raise NotImplementedError('custom_cls_channels heads do not export')
        cfg = head.test_cfg
        nms = cfg.get('nms', None)
        if nms is None or nms.get('type', 'nms') != 'nms':
            raise NotImplementedError(
                f'test_cfg.nms={nms!r}: only plain NMS (type="nms") exports.')
        # mmdet compares min_bbox_size in original-image pixels, which the
        # graph does not know; 0 (drop empty boxes) is scale-free.
        self.min_bbox_size = cfg.get('min_bbox_size', -1)
        if self.min_bbox_size > 0:
            raise NotImplementedError(
                f'test_cfg.min_bbox_size={self.min_bbox_size}: only -1 or 0 '
                'export (a positive size is in original-image pixels).')
        self.detector = detector
        self.head = head
        # Heads whose box branch is not what their coder decodes (PicoHead:
        # distributions over distances) turn it into that first.
        self.decode_distances = getattr(head, 'decode_distances', None)
        self.nms_pre = int(cfg.get('nms_pre', -1))
        self.score_thr = float(cfg.get('score_thr', 0.0))
        self.iou_thr = float(nms['iou_threshold'])
        self.max_per_img = int(cfg['max_per_img'])
        self.num_classes = head.cls_out_channels if head.use_sigmoid_cls \
            else head.cls_out_channels - 1

    def _level_candidates(self, cls_score: torch.Tensor,
                          bbox_pred: torch.Tensor, priors: torch.Tensor
                          ) -> Tuple[torch.Tensor, ...]:
        """Top ``nms_pre`` (score, label, delta, prior) of one level."""
        batch = cls_score.shape[0]
        head = self.head
        scores = cls_score.permute(0, 2, 3, 1).reshape(
            batch, -1, head.cls_out_channels)
        if head.use_sigmoid_cls:
            scores = scores.sigmoid()
        else:
            scores = scores.softmax(-1)[..., :-1]
        num_classes = scores.shape[-1]
        deltas = bbox_pred.permute(0, 2, 3, 1).reshape(batch, -1, 4)
        flat = scores.reshape(batch, -1)
        # mmdet keeps the nms_pre best of the scores above the threshold;
        # the nms_pre best overall, then masked, are the same set. Padding
        # with -1 scores (never above a threshold) keeps k fixed whatever
        # the input size, so a dynamic-shape IR never asks for k > length.
        if self.nms_pre > 0:
            pad = flat.new_full((batch, self.nms_pre), -1.0)
            flat, idx = torch.cat([flat, pad], dim=1).topk(
                self.nms_pre, dim=1)
            idx = torch.minimum(idx, idx.new_tensor(0) + flat_len(scores) - 1)
        else:
            flat, idx = flat.sort(dim=1, descending=True)
        anchor_idx = torch.div(idx, num_classes, rounding_mode='floor')
        labels = idx - anchor_idx * num_classes
        deltas = deltas.gather(1, anchor_idx.unsqueeze(-1).expand(-1, -1, 4))
        priors = priors[anchor_idx]
        return flat, labels, deltas, priors

    def forward(self, x: torch.Tensor, img_shape: torch.Tensor
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Detections of a padded batch.

        Args:
            x: The normalized, padded batch ``[B, 3, H, W]``.
            img_shape: ``[B, 2]`` float (h, w) of each image before padding.
        """
        feats = self.detector.extract_feat(x)
        cls_scores, bbox_preds = self.head(feats)[:2]
        if self.decode_distances is not None:
            # PicoHead: box distributions -> distances, as its predict does.
            bbox_preds = self.decode_distances(bbox_preds)
        sizes = [c.shape[-2:] for c in cls_scores]
        mlvl_priors = self.head.prior_generator.grid_priors(
            sizes, dtype=x.dtype, device=x.device)
        parts = [self._level_candidates(c, b, p)
                 for c, b, p in zip(cls_scores, bbox_preds, mlvl_priors)]
        scores, labels, deltas, priors = (torch.cat(t, dim=1)
                                          for t in zip(*parts))
        batch, num = scores.shape
        boxes = self.head.bbox_coder.decode(
            priors.reshape(-1, priors.shape[-1]), deltas.reshape(-1, 4),
            max_shape=None).reshape(batch, num, 4)
        # Clip to img_shape as mmdet's decoders do with max_shape (before
        # NMS: a box cut at the image border overlaps its neighbours less);
        # done here because their ONNX branch imports the removed mmdet.core.
        height = img_shape[:, 0:1].to(boxes.dtype)
        width = img_shape[:, 1:2].to(boxes.dtype)
        zero = boxes.new_zeros(())
        boxes = torch.stack([
            torch.minimum(torch.maximum(boxes[..., 0], zero), width),
            torch.minimum(torch.maximum(boxes[..., 1], zero), height),
            torch.minimum(torch.maximum(boxes[..., 2], zero), width),
            torch.minimum(torch.maximum(boxes[..., 3], zero), height)
        ], dim=-1)
        return self._nms(boxes, scores, labels)

    def _nms(self, boxes: torch.Tensor, scores: torch.Tensor,
             labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Class-aware NMS per image and padding to ``max_per_img`` rows."""
        from torchvision.ops import batched_nms
        batch, num = scores.shape
        image = torch.arange(batch, device=scores.device).unsqueeze(1)
        image = image.expand(batch, num).reshape(-1)
        boxes, scores, labels = (boxes.reshape(-1, 4), scores.reshape(-1),
                                 labels.reshape(-1))
        valid = scores > self.score_thr
        if self.min_bbox_size >= 0:
            valid = valid & (boxes[:, 2] - boxes[:, 0] > self.min_bbox_size) \
                & (boxes[:, 3] - boxes[:, 1] > self.min_bbox_size)
        boxes, scores, labels, image = (boxes[valid], scores[valid],
                                        labels[valid], image[valid])
        # One NMS over the batch: (image, class) pairs never suppress each
        # other. Kept indices come sorted by decreasing score.
        keep = batched_nms(boxes, scores, image * self.num_classes + labels,
                           self.iou_thr)
        boxes, scores, labels, image = (boxes[keep], scores[keep],
                                        labels[keep], image[keep])
        # Rank of each kept detection within its image.
        onehot = (image.unsqueeze(1) == torch.arange(
            batch, device=image.device).unsqueeze(0)).long()
        rank = (onehot.cumsum(0) * onehot).sum(1) - 1
        top = rank < self.max_per_img
        slot = image[top] * self.max_per_img + rank[top]
        dets = scores.new_zeros((batch * self.max_per_img, 5))
        out_labels = torch.full((batch * self.max_per_img, ), -1,
                                dtype=torch.long, device=labels.device)
        # scatter, not index_put: OpenVINO converts aten::scatter.
        dets = dets.scatter(
            0, slot.unsqueeze(1).expand(-1, 5),
            torch.cat([boxes[top], scores[top].unsqueeze(1)], dim=1))
        out_labels = out_labels.scatter(0, slot, labels[top])
        return (dets.reshape(batch, self.max_per_img, 5),
                out_labels.reshape(batch, self.max_per_img))


def wrap_for_export(model: nn.Module, task: str) -> nn.Module:
    """The export wrapper of ``task`` around a built, eval-mode ``model``."""
    wrappers = dict(classification=ClassifierExport,
                    detection=DetectorExport,
                    segmentation=SegmentorExport)
    if task not in wrappers:
        raise ValueError(f'task must be one of {sorted(wrappers)}, got '
                         f'{task!r}')
    return wrappers[task](model).eval()


__all__: List[str] = [
    'GlobalMean', 'use_mean_pooling', 'ClassifierExport', 'DetectorExport',
    'SegmentorExport', 'wrap_for_export'
]
