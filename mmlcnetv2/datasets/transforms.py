# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""A pipeline check that a segmentation mask fits its image and classes."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS  # root: seen by mmseg's registry


class SegMapError(ValueError):
    """A ground-truth mask does not fit its image or the dataset's classes."""


@TRANSFORMS.register_module()
class CheckSegMap(BaseTransform):
    """Fail clearly on a mask of the wrong size or with unknown labels.

    mmseg does not check masks: one whose size differs from its image's is
    cropped and padded alongside it (silently misaligned) or fails deep in
    the loss or metric with a shape error; a label >= ``num_classes`` makes
    ``CrossEntropyLoss`` fail with "Target N is out of bounds" on CPU (a
    device-side assert on CUDA) and is silently left out of ``IoUMetric``'s
    ground-truth area. Put this right after ``LoadAnnotations`` (which has
    already applied ``reduce_zero_label`` and ``label_map``) to get an error
    that names the file, the bad value and what is allowed.

    Without a ``gt_seg_map`` (inference, e.g. ``MMSegInferencer``, which
    drops ``LoadAnnotations``) it does nothing.

    Required keys: ``gt_seg_map`` (optional), ``ori_shape``, ``seg_map_path``
    (optional, for the message).

    Args:
        num_classes (int): Labels must be in ``[0, num_classes)`` ...
        ignore_index (int): ... or equal to this. Defaults to 255, mmseg's.

    Example:
        >>> import numpy as np
        >>> check = CheckSegMap(num_classes=3)
        >>> results = dict(gt_seg_map=np.array([[0, 2], [255, 1]], np.uint8),
        ...                ori_shape=(2, 2))
        >>> check(results) is results
        True
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f'num_classes must be a positive int, got {num_classes!r}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results.get('gt_seg_map')
        if seg is None:
            return results
        where = results.get('seg_map_path', '<in-memory mask>')
        if seg.ndim != 2:
            raise SegMapError(
                f'{where}: a mask must be one channel of class indices, got '
                f'shape {tuple(seg.shape)} (a colour mask? map its colours '
                'to class indices first)')
        image_shape = tuple(results['ori_shape'][:2])
        if tuple(seg.shape) != image_shape:
            raise SegMapError(
                f'{where}: mask is {seg.shape[0]}x{seg.shape[1]} (HxW) but '
                f'its image {results.get("img_path", "")} is '
                f'{image_shape[0]}x{image_shape[1]}; they must be equal')
        values = self._labels(seg)
        bad = values[(values >= self.num_classes) | (values < 0)]
        bad = bad[bad != self.ignore_index]
        if bad.size:
            raise SegMapError(
                f'{where}: label value(s) {bad.tolist()[:10]} outside the '
                f'{self.num_classes} classes: allowed are 0..'
                f'{self.num_classes - 1} and the ignore index '
                f'{self.ignore_index} (after reduce_zero_label/label_map). '
                'Check metainfo.classes, num_classes and the masks.')
        return results

    @staticmethod
    def _labels(seg: np.ndarray) -> np.ndarray:
        """The distinct values of ``seg``; bincount is ~10x faster for uint8."""
        if seg.dtype == np.uint8:
            return np.flatnonzero(np.bincount(seg.ravel(), minlength=256))
        return np.unique(seg)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
