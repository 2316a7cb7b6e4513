# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""NMS per image that stops at ``max_per_img``: one op in torch and in
OpenVINO.

A detector keeps at most ``max_per_img`` detections of each image, the
best-scored ones the NMS keeps. Greedy NMS keeps boxes by decreasing score,
so it can stop once it has kept that many: the ones it would keep after
them are cut anyway. torchvision's ``nms`` (what a traced graph has) has no
such limit and no batch; OpenVINO's ``NonMaxSuppression`` has both, and at
1,000 candidates it runs about ten times faster with a limit of 100
(``docs/benchmarking.md``). :func:`openvino_extensions` has
``openvino.convert_model`` emit that op for :class:`ImageNMS`; in torch
(the host NMS of ``--nms host``, the ONNX export, the tests)
:meth:`ImageNMS.forward` computes the same kept boxes with torchvision.

Example:
    >>> import torch
    >>> boxes = torch.tensor([[[0., 0, 10, 10], [1, 1, 10, 10],
    ...                        [20, 20, 30, 30]]])
    >>> ImageNMS(0.5, max_per_img=5)(boxes, torch.tensor([[0.9, 0.8, 0.7]]))
    tensor([[0, 0],
            [0, 2]])
"""
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn

from .dense_heads import rank_within

#: The op that stands for :class:`ImageNMS` in a traced graph.
_OP = 'mmlcnetv2::ImageNMS'


class ImageNMS(nn.Module):
    """Greedy NMS within each image, at most ``max_per_img`` kept each.

    Boxes of different classes must already be apart (see :func:`apart`):
    this suppresses any overlap within an image.

    Args:
        iou_threshold: A box overlapping a kept one by more than this is
            dropped.
        max_per_img: Keep at most this many boxes of each image.
        min_score: Boxes scored at or below it are no candidates (the
            detection export scores its rejected candidates -1).
    """

    def __init__(self, iou_threshold: float, max_per_img: int,
                 min_score: float = -1.0) -> None:
        super().__init__()
        self.iou_threshold = float(iou_threshold)
        self.max_per_img = int(max_per_img)
        self.min_score = float(min_score)

    def forward(self, boxes: torch.Tensor, scores: torch.Tensor
                ) -> torch.Tensor:
        """``[K, 2]`` (image, candidate) of the kept boxes, by decreasing
        score across the batch.

        Args:
            boxes: ``[B, N, 4]`` x1, y1, x2, y2.
            scores: ``[B, N]``.
        """
        from torchvision.ops import nms
        batch, num = scores.shape
        flat = (scores.reshape(-1) > self.min_score).nonzero().squeeze(1)
        image = torch.div(flat, num, rounding_mode='floor')
        keep = nms(apart(boxes.reshape(-1, 4)[flat], image),
                   scores.reshape(-1)[flat], self.iou_threshold)
        flat, image = flat[keep], image[keep]
        kept = rank_within(image, batch) < self.max_per_img
        flat, image = flat[kept], image[kept]
        return torch.stack([image, flat - image * num], dim=1)


def apart(boxes: torch.Tensor, groups: torch.Tensor,
          bound: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Boxes ``[..., 4]`` shifted so that different ``groups`` never
    overlap: one NMS then suppresses only within a group (torchvision's and
    mmcv's ``batched_nms`` coordinate trick). ``bound``: an upper bound of
    every coordinate, e.g. the largest image side for boxes clipped to
    their images (None: the largest coordinate, a reduction over all).

    Without ``batched_nms``'s branches: its test for an empty input becomes
    an ``If`` in a traced graph, whose body OpenVINO runs as a subgraph
    (about 0.1 ms at 320), and in eager mode it loops over the classes
    above 1,000 boxes. The 0 appended keeps ``max`` defined for no boxes.
    """
    if bound is None:
        bound = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    span = bound + 1
    return boxes + (groups.to(boxes.dtype) * span).unsqueeze(-1)


def _convert(context) -> List:
    """The OpenVINO op of one :class:`ImageNMS`: ``NonMaxSuppression``
    (opset 9) with the images as its batch, one class, at most
    ``max_per_img`` per image, results sorted by decreasing score across
    the batch as torchvision's ``nms``; the (image, candidate) columns."""
    import openvino.opset13 as ops
    boxes, scores, iou, max_per_img, min_score = (context.get_input(i)
                                                  for i in range(5))

    def const(value, dtype=np.int64):
        return ops.constant(np.array(value, dtype))

    selected = ops.non_max_suppression(
        ops.reshape(boxes, const([0, -1, 4]), True),
        ops.unsqueeze(scores, const([1])),
        ops.reshape(ops.convert(max_per_img, 'i64'), const([1]), False),
        ops.convert(iou, 'f32'), ops.convert(min_score, 'f32'),
        sort_result_descending=True, output_type='i64').output(0)
    return [ops.gather(selected, const([0, 2]), const(1)).output(0)]


def openvino_extensions() -> list:
    """What ``openvino.convert_model(..., extension=...)`` needs to turn
    each :class:`ImageNMS` into OpenVINO's ``NonMaxSuppression``."""
    from openvino.frontend.pytorch import ConversionExtension, ModuleExtension

    def with_settings(module, op, boxes, scores):
        # NonMaxSuppression keeps scores >= its threshold: the next float
        # above min_score keeps exactly the scores above it.
        above = np.nextafter(np.float32(module.min_score), np.float32(1))
        return op(boxes, scores, torch.tensor(module.iou_threshold),
                  torch.tensor(module.max_per_img), torch.tensor(above))

    def evaluate(module, boxes, scores, *settings):
        return module(boxes, scores)

    return [ModuleExtension(ImageNMS, _OP, evaluate=evaluate,
                            convert=with_settings),
            ConversionExtension(_OP, _convert)]
