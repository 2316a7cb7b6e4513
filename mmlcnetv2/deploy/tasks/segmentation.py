# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Segmentation: an mmseg ``EncoderDecoder`` as ``image -> logits``.

The IR's output is ``seg_logits [B, C, H, W]`` at the input size, as mmseg's
``encode_decode``; the crop of the padding, the bilinear resize to the
original image and the argmax are the inferencer's (mmseg's
``postprocess_result``): a class map resized afterwards is not the same.
Exports written before that carry a class map ``seg`` at the input size,
which the inferencer still reads.
"""
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn

from ..field_checks import FRACTION, DeployFormatError, check_field
from .base import DeployTask, palette


#: The most classes whose soft prediction Model API can resize:
#: ``cv2.resize`` takes at most 128 channels under OpenCV 5 (512 under 4).
SOFT_PREDICTION_MAX_CLASSES = 128


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


class SegmentationTask(DeployTask):
    """mmseg encoder-decoders in ``'whole'`` mode; the input follows each
    image's aspect ratio."""

    name = 'segmentation'
    metric = ('IoUMetric', 'mIoU', 100.0)
    scope = 'mmseg'
    model_kind = 'segmentor'
    output_names = ('seg_logits', )
    legacy_outputs = (('seg', ), )
    model_api_type = 'Segmentation'

    def check_exportable(self, model: nn.Module) -> None:
        """Also refused: a segmentor other than one ``EncoderDecoder``
        head (a cascade, e.g. OCRNet's ``CascadeEncoderDecoder``, whose
        heads each refine the previous one's output)."""
        from ...errors import UnsupportedModelError
        heads = getattr(model, 'decode_head', None)
        if isinstance(heads, nn.ModuleList):
            names = ', '.join(type(h).__name__ for h in heads)
            raise UnsupportedModelError(
                f'{type(model).__name__} (a cascade segmentor: decode_head '
                f'is {len(heads)} heads, {names}) does not export; exports: '
                "EncoderDecoder with one decode head, test_cfg mode 'whole'")
        super().check_exportable(model)

    def wrap(self, model: nn.Module) -> nn.Module:
        return SegmentorExport(model).eval()

    def num_classes(self, model: nn.Module) -> int:
        return model.decode_head.num_classes

    def meta_fields(self, model: nn.Module) -> Dict:
        """``postprocess``: the logits' resize (``align_corners``) and, for
        a one-channel head, the sigmoid threshold."""
        head = model.decode_head
        postprocess = dict(
            align_corners=bool(head.align_corners),
            threshold=float(getattr(head, 'threshold', None) or 0.3)
            if head.out_channels == 1 else None)
        return dict(postprocess=postprocess, score_threshold=None,
                    max_per_img=None)

    def check_meta(self, meta: Dict, path: str) -> None:
        """``postprocess`` (null in exports before it): ``align_corners``
        true or false, ``threshold`` (a one-channel head's) a score or
        null."""
        post = meta.get('postprocess', None)
        if post is None:
            return
        if not isinstance(post, dict):
            raise DeployFormatError(f"{path}: 'postprocess' must be a JSON "
                                    f'object or null; got {post!r}')
        check_field(post,
                    'align_corners',
                    (lambda v: isinstance(v, bool), 'true or false'),
                    path,
                    'postprocess.',
                    required=False)
        check_field(post,
                    'threshold', (lambda v: v is None or FRACTION[0]
                                  (v), f'{FRACTION[1]} or null'),
                    path,
                    'postprocess.',
                    required=False)

    def ir_num_classes(self, compiled) -> Optional[int]:
        """One logit channel per class; one channel is a two-class
        (sigmoid) head. None for the class maps of older exports."""
        output = compiled.outputs[0]
        if 'seg_logits' not in output.get_names():
            return None
        channels = output.get_partial_shape()[1]
        if not channels.is_static:
            return None
        return max(channels.get_length(), 2)

    def pad_size_divisor(self, data_preprocessor: dict) -> int:
        """mmseg pads test images only through ``data_preprocessor.test_cfg``
        (``size`` / ``size_divisor`` are for training batches)."""
        test_cfg = data_preprocessor.get('test_cfg', None) or {}
        if test_cfg.get('size', None) is not None:
            raise ValueError('data_preprocessor.test_cfg.size (pad test '
                             'images to a fixed size) is not supported; use '
                             '--shape H W for a fixed input size.')
        return int(test_cfg.get('size_divisor', 0) or 0)

    def postprocess(self, outputs: List[np.ndarray], info: Dict, index: int,
                    meta: Dict, path: str) -> Dict:
        """``seg``: the ``(H, W)`` int64 class map at the original size.

        ``seg_logits`` IRs: as mmseg's ``postprocess_result``, the padding
        cropped, the logits resized bilinearly to the original size (with
        torch, as mmseg, so the numbers are the same), then argmax (sigmoid
        > threshold for a one-channel head). Older ``seg`` IRs carry a class
        map at the input size, resized with nearest neighbour.
        """
        output = outputs[0][index]
        h, w = info['img_shape']
        oh, ow = info['ori_shape']
        if meta['outputs'][0] != 'seg_logits':
            seg = output[:h, :w].astype(np.int32)
            return dict(seg=cv2.resize(
                seg, (ow, oh),
                interpolation=cv2.INTER_NEAREST).astype(np.int64))
        post = meta.get('postprocess', None) or {}
        logits = torch.from_numpy(np.ascontiguousarray(output[:, :h, :w]))
        with torch.no_grad():
            logits = torch.nn.functional.interpolate(
                logits[None], size=(oh, ow), mode='bilinear',
                align_corners=bool(post.get('align_corners', False)))[0]
        if logits.shape[0] == 1:
            threshold = post.get('threshold', None)
            threshold = 0.3 if threshold is None else threshold
            return dict(seg=(logits[0].sigmoid() > threshold).numpy().astype(
                np.int64))
        return dict(seg=logits.argmax(0).numpy().astype(np.int64))

    def model_api_fields(self, meta: Dict) -> Dict[str, str]:
        """``return_soft_prediction``: False for more classes than
        :data:`SOFT_PREDICTION_MAX_CLASSES`. Model API resizes the soft
        prediction (one channel per class) with ``cv2.resize``, which
        takes at most 128 channels under OpenCV 5: ADE20K's 150 classes
        failed on every image. Without it the result is the class map
        alone (an array, not ``ImageResultWithSoftPrediction``). (An IR
        that outputs the class map is no way out: Model API 0.4.7 takes
        a one-channel output as "already ArgMax'ed" and then fails on its
        own ``argmax(axis=2)``.)"""
        many = len(meta['classes']) > SOFT_PREDICTION_MAX_CLASSES
        return dict(return_soft_prediction=str(not many))

    def model_api_outputs(self, outputs: list, resized_hw, image_hw,
                          meta: Dict) -> list:
        """As :meth:`postprocess` before its argmax, which Model API does:
        the logits cropped to the resized image and resized bilinearly to
        the image (a one-channel head: a constant logit of the threshold
        in front, so the argmax is ``sigmoid > threshold``)."""
        import openvino.opset11 as ops11
        import openvino.opset13 as ops
        post = meta.get('postprocess', None) or {}
        axes = ops.constant(np.array([2, 3], np.int64))
        logits = ops.slice(outputs[0], ops.constant(np.zeros(2, np.int64)),
                           ops.convert(resized_hw, 'i64'),
                           ops.constant(np.ones(2, np.int64)), axes)
        mode = ('align_corners' if post.get('align_corners', False) else
                'pytorch_half_pixel')
        logits = ops11.interpolate(
            logits, ops.convert(image_hw, 'i64'), 'linear_onnx', 'sizes',
            coordinate_transformation_mode=mode, axes=axes)
        if logits.get_output_partial_shape(0)[1].get_length() == 1:
            threshold = post.get('threshold', None)
            threshold = 0.3 if threshold is None else threshold
            level = ops.multiply(logits, ops.constant(np.float32(0)))
            level = ops.add(level, ops.constant(np.float32(
                np.log(threshold / (1 - threshold)))))
            logits = ops.concat([level, logits], 1)
        return [logits.output(0)]

    def to_data_sample(self, sample, result: Dict) -> None:
        from mmengine.structures import PixelData
        sample.pred_sem_seg = PixelData(
            data=torch.from_numpy(result['seg'])[None])

    def agreement(self, a: Dict, b: Dict) -> np.ndarray:
        """The fraction of pixels with the same class."""
        return np.array([float((a['seg'] == b['seg']).mean())])

    def summarize(self, result: Dict, classes: Sequence[str],
                  score_thr: float) -> Dict:
        seg = result['seg']
        labels, counts = np.unique(seg, return_counts=True)
        return dict(shape=list(seg.shape), class_pixels={
            classes[i] if 0 <= i < len(classes) else str(int(i)): int(n)
            for i, n in zip(labels, counts)})

    def one_line(self, record: Dict, score_thr: float) -> str:
        total = max(sum(record['class_pixels'].values()), 1)
        parts = sorted(record['class_pixels'].items(), key=lambda kv: -kv[1])
        return (f"{record['shape'][0]}x{record['shape'][1]}: " + ', '.join(
            f'{name} {100 * n / total:.1f} %' for name, n in parts[:5]))

    def draw(self, img: np.ndarray, result: Dict, classes: Sequence[str],
             score_thr: float) -> np.ndarray:
        """A colour per class, blended half and half with the image."""
        colors = palette(len(classes))
        color = colors[np.clip(result['seg'], 0, len(colors) - 1)]
        return cv2.addWeighted(img.copy(), 0.5, color, 0.5, 0)
