# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Classification: an mmpretrain ``ImageClassifier`` as ``image -> logits``.

The IR's output is ``logits [B, num_classes]``; the inferencer's result adds
the softmax ``scores``, the top-1 ``label``, its ``score`` and
``class_name``.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn

from ...apis.build import GlobalMean
from ..preprocess import spec
from .base import DeployTask


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
        from ...models.heads import PPLCNetV2Head
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


def _top5(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores)[:5]


class ClassificationTask(DeployTask):
    """mmpretrain classifiers: one fixed input size (the centre crop), so a
    static IR is exact (and faster: OpenVINO fuses more with static
    shapes)."""

    name = 'classification'
    metric = ('Accuracy', 'accuracy/top1', 100.0)
    scope = 'mmpretrain'
    model_kind = 'classifier'
    output_names = ('logits', )
    fixed_input_shape = True
    model_api_type = 'Classification'

    def wrap(self, model: nn.Module) -> nn.Module:
        return ClassifierExport(model).eval()

    def num_classes(self, model: nn.Module) -> int:
        return model.head.num_classes

    def rescale_steps(self, steps: List[dict],
                      shape: Tuple[int, int]) -> List[dict]:
        """The centre crop becomes ``shape``, the resize grows with it."""
        return spec.rescale_crop(steps, shape)

    def model_api_fields(self, meta: Dict) -> Dict[str, str]:
        """``topk``: the five best classes, as ``tools/infer.py`` prints."""
        return dict(topk=str(min(5, len(meta['classes']))))

    def ir_num_classes(self, compiled) -> Optional[int]:
        """One logit per class."""
        width = compiled.outputs[0].get_partial_shape()[-1]
        return width.get_length() if width.is_static else None

    def postprocess(self, outputs: List[np.ndarray], info: Dict, index: int,
                    meta: Dict, path: str) -> Dict:
        logits = outputs[0][index].astype(np.float64)
        e = np.exp(logits - logits.max())
        scores = e / e.sum()
        label = int(scores.argmax())
        return dict(logits=outputs[0][index], scores=scores, label=label,
                    score=float(scores[label]),
                    class_name=meta['classes'][label])

    def to_data_sample(self, sample, result: Dict) -> None:
        sample.set_pred_score(torch.from_numpy(result['scores']).float())
        sample.set_pred_label(torch.tensor([result['label']]))

    def agreement(self, a: Dict, b: Dict) -> np.ndarray:
        """Same top-1 class: 1, else 0."""
        return np.array([float(a['label'] == b['label'])])

    def summarize(self, result: Dict, classes: Sequence[str],
                  score_thr: float) -> Dict:
        top = _top5(result['scores'])
        return dict(label=int(result['label']), class_name=classes[
            result['label']], score=float(result['score']),
            top5=[dict(label=int(i), class_name=classes[i],
                       score=float(result['scores'][i])) for i in top])

    def one_line(self, record: Dict, score_thr: float) -> str:
        return ', '.join(f"{t['class_name']} {t['score']:.4f}"
                         for t in record['top5'])

    def single_image_text(self, result: Dict,
                          classes: Sequence[str]) -> Optional[str]:
        """The top-5 classes, one per line, tab-separated from the score."""
        return '\n'.join(f'{classes[i]}\t{result["scores"][i]:.4f}'
                         for i in _top5(result['scores']))

    def draw(self, img: np.ndarray, result: Dict, classes: Sequence[str],
             score_thr: float) -> np.ndarray:
        """The top-5 classes and scores written at the top left."""
        img = img.copy()
        for row, i in enumerate(_top5(result['scores'])):
            text = f'{classes[i]}: {result["scores"][i]:.3f}'
            y = 18 + 18 * row
            cv2.putText(img, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(img, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
        return img
