# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The table of preprocessing steps: one class per ``op`` of
``deploy.json``'s ``preprocess.steps``.

Each class owns everything about its op:

- ``from_transform``: the step from the test pipeline's transform (writer,
  :mod:`.spec`);
- ``fields``: the check of its fields when ``deploy.json`` is read
  (:mod:`~mmlcnetv2.deploy.manifest.schema`);
- ``apply`` and ``out_size``: the host's replay on the image (reader,
  :mod:`.host`; reduced-size JPEG decoding, :mod:`.jpeg`);
- ``graph``: the same in OpenVINO ops, for the self-contained IR
  (:mod:`~mmlcnetv2.deploy.model_api.self_contained`), and
  ``model_api_unsupported``, why that IR cannot do it;
- ``model_api_resize_type``: Model API's ``resize_type`` for it
  (:mod:`~mmlcnetv2.deploy.model_api.rt_info`);
- ``fit`` and ``scaled``: its rescaling to a requested input size (the
  tasks' rules, :func:`.spec.rescale_fit` and :func:`.spec.rescale_crop`).

The steps are plain ``dict`` s (as ``deploy.json`` holds them); the classes
are stateless and :data:`STEPS` maps each ``op`` to its one instance.

Adding a step: a subclass of :class:`Step` here, its entry in
:data:`STEPS`, and a test of its host replay against the OpenMMLab
transform.

Example:
    >>> STEPS['center_crop'].out_size((300, 200), dict(
    ...     op='center_crop', crop_size=[224, 224])) is None
    True
    >>> STEPS['resize_edge'].out_size((4000, 3000), dict(
    ...     op='resize_edge', scale=256, edge='short',
    ...     interpolation='bilinear'))
    (341, 256)
"""
from typing import Dict, Optional, Sequence, Tuple

import mmcv
import numpy as np

from ..field_checks import (BOOL, INTERPOLATION, MAX_SIDE, PAIR, SIDE, Check,
                            is_int, is_numbers, is_one_of, is_pair)

#: ``resize_edge``'s edges (mmpretrain's ``ResizeEdge``).
EDGES = ('short', 'long', 'width', 'height')
Size = Tuple[int, int]


def pair(value, name: str) -> Size:
    """An int or a 2-sequence as a pair (a transform's ``scale``)."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f'{name} must be an int or (w, h), got {value!r}')


def graph_resize(size_input):
    """An OpenVINO function ``node -> node``: bilinear resize of a
    ``float32 NHWC`` image (whole grey levels) to the ``(h, w)`` in the
    first row of ``size_input`` (``[B, 2]``), rounded back to whole grey
    levels as OpenCV's ``uint8`` resize rounds (within one grey level of
    cv2's). The graph's resize of the ``image`` input form
    (:mod:`.graph`) and of the self-contained IR."""
    import openvino.opset11 as ops11
    import openvino.opset13 as ops

    def resize(node):
        sizes = ops.convert(ops.round(ops.gather(
            size_input, ops.constant(np.int64(0)), ops.constant(np.int64(0))),
            'half_to_even'), 'i64')
        out = ops11.interpolate(
            node, sizes, 'linear', 'sizes',
            coordinate_transformation_mode='half_pixel',
            axes=ops.constant(np.array([1, 2], np.int64)))
        return ops.clamp(ops.round(out, 'half_to_even'), 0.0,
                         255.0).output(0)

    return resize


def _scalar(value: float):
    import openvino.opset13 as ops
    return ops.constant(np.float32(value))


def _hw_parts(hw):
    """``h`` and ``w`` of an ``f32 [2]`` node."""
    import openvino.opset13 as ops
    return (ops.gather(hw, ops.constant(np.int64(i)),
                       ops.constant(np.int64(0))) for i in (0, 1))


def _stack_hw(h, w):
    import openvino.opset13 as ops
    return ops.concat([ops.unsqueeze(h, ops.constant(np.int64(0))),
                       ops.unsqueeze(w, ops.constant(np.int64(0)))], 0)


class Step:
    """One ``op`` of ``deploy.json``'s ``preprocess.steps``.

    Attributes:
        op (str): Its name in ``deploy.json``.
        transform (str): The OpenMMLab test-pipeline transform it is read
            from.
        supported (str): How the writer's refusal names that transform.
        fields (dict): Its fields and their checks.
        resizes (bool): It changes the image's scale (a resize): results
            are mapped back through it.
    """

    op: str = ''
    transform: str = ''
    supported: str = ''
    fields: Dict[str, Check] = {}
    resizes: bool = False

    # ---- writer -------------------------------------------------------
    def from_transform(self, t: dict) -> Optional[dict]:
        """The step for the transform config ``t`` (its type is
        :attr:`transform`); None where this form of it has no step.

        Raises:
            ValueError: an option of ``t`` the step cannot honour.
        """
        raise NotImplementedError

    def fit(self, step: dict, shape: Size) -> dict:
        """The step for a requested input ``shape`` (h, w) by the fitting
        rule (detection, segmentation): here unchanged."""
        return step

    def scaled(self, step: dict, ratio: float) -> dict:
        """The step grown by ``ratio`` before a centre crop that grew by
        it (classification's rule): here unchanged."""
        return step

    def fixed_shape(self, step: dict) -> Optional[Size]:
        """The (h, w) the pipeline produces when this step is its last
        size-fixing one; None where it fixes none."""
        return None

    # ---- host (reader) ------------------------------------------------
    def out_size(self, size: Size, step: dict,
                 fit: Optional[Size] = None) -> Optional[Size]:
        """``(w, h)`` a resize makes of an image of ``size`` (w, h); None
        for a step that does not resize. ``fit``: a static IR's (h, w)."""
        return None

    def apply(self, img: np.ndarray, step: dict,
              fit: Optional[Size] = None) -> Tuple[np.ndarray, Size]:
        """The step on the BGR image: the result and the crop offset
        (x, y) it adds. Here: the resize to :meth:`out_size`."""
        h, w = img.shape[:2]
        size = self.out_size((w, h), step, fit)
        return mmcv.imresize(img, tuple(size),
                             interpolation=step['interpolation']), (0, 0)

    # ---- graph (self-contained IR) ------------------------------------
    def graph(self, x, hw, step: dict):
        """The step in OpenVINO ops on the ``f32 NHWC`` image ``x`` of
        size ``hw`` (``f32 [2]``, h, w): the result and its size. Here:
        the bilinear :func:`graph_resize` to :meth:`graph_size`."""
        import openvino.opset13 as ops
        hw = self.graph_size(step, hw)
        return graph_resize(ops.unsqueeze(hw, ops.constant(np.int64(0))))(
            x), hw

    def graph_size(self, step: dict, hw):
        """``(h, w)`` ``f32 [2]`` after the resize of an image of size
        ``hw``, by :meth:`out_size`'s rule."""
        raise NotImplementedError

    def model_api_unsupported(self, step: dict, graph: Sequence[str]) -> str:
        """Why the self-contained IR cannot do this step (given the export's
        ``preprocess_in_graph``), or ``''``. Resizes: bilinear only."""
        if step['interpolation'] != 'bilinear':
            return (f"bilinear resizes only, got {step['op']} with "
                    f"interpolation {step['interpolation']!r}")
        return ''

    def model_api_resize_type(self, step: dict) -> Optional[str]:
        """Model API's ``resize_type`` this step calls for, or None."""
        return None


class ResizeEdge(Step):
    """mmpretrain's ``ResizeEdge``: one edge to ``scale``, the other
    ``int(scale * other / edge)``."""

    op = 'resize_edge'
    transform = 'ResizeEdge'
    supported = 'ResizeEdge'
    fields = dict(scale=SIDE,
                  edge=(lambda v: is_one_of(v, EDGES),
                        f'one of {list(EDGES)}'),
                  interpolation=INTERPOLATION)
    resizes = True

    def from_transform(self, t: dict) -> dict:
        return dict(op=self.op, scale=int(t['scale']),
                    edge=t.get('edge', 'short'),
                    interpolation=t.get('interpolation', 'bilinear'))

    def scaled(self, step: dict, ratio: float) -> dict:
        return dict(step, scale=int(round(step['scale'] * ratio)))

    def out_size(self, size: Size, step: dict,
                 fit: Optional[Size] = None) -> Size:
        w, h = size
        scale = step['scale']
        if (step['edge'] == 'short' and w < h) or (
                step['edge'] == 'long' and w > h) or step['edge'] == 'width':
            return scale, int(scale * h / w)
        return int(scale * w / h), scale

    def graph_size(self, step: dict, hw):
        import openvino.opset13 as ops
        h, w = _hw_parts(hw)
        scale = _scalar(step['scale'])
        # mmcv: the short (long, ...) edge to scale, the other
        # int(scale * other / edge).
        width_first = {'short': ops.less(w, h), 'long': ops.greater(w, h),
                       'width': ops.constant(True),
                       'height': ops.constant(False)}[step['edge']]
        new_h = ops.select(width_first, ops.floor(ops.divide(
            ops.multiply(scale, h), w)), scale)
        new_w = ops.select(width_first, scale, ops.floor(ops.divide(
            ops.multiply(scale, w), h)))
        return _stack_hw(new_h, new_w)


class Resize(Step):
    """``Resize(scale=...)``: to ``scale`` (w, h), or with ``keep_ratio``
    into it (``mmcv.rescale_size``); a static IR's ``fit`` replaces the
    scale of a keep-ratio resize."""

    op = 'resize'
    transform = 'Resize'
    supported = 'Resize(scale=...)'
    fields = dict(scale=PAIR, keep_ratio=BOOL, interpolation=INTERPOLATION)
    resizes = True

    def from_transform(self, t: dict) -> Optional[dict]:
        if t.get('scale', None) is None:  # scale_factor: no fixed size
            return None
        return dict(op=self.op, scale=list(pair(t['scale'], 'scale')),
                    keep_ratio=bool(t.get('keep_ratio', False)),
                    interpolation=t.get('interpolation', 'bilinear'))

    def fit(self, step: dict, shape: Size) -> dict:
        return dict(step, scale=[shape[1], shape[0]])

    def scaled(self, step: dict, ratio: float) -> dict:
        return dict(step, scale=[int(round(s * ratio))
                                 for s in step['scale']])

    def fixed_shape(self, step: dict) -> Size:
        w, h = step['scale']
        return (h, w) if not step['keep_ratio'] or w == h else (
            min(w, h), max(w, h))

    def out_size(self, size: Size, step: dict,
                 fit: Optional[Size] = None) -> Size:
        w, h = size
        if not step['keep_ratio']:
            return tuple(step['scale'])
        if fit is not None:
            return mmcv.rescale_size((w, h), min(fit[1] / w, fit[0] / h))
        return mmcv.rescale_size((w, h), tuple(step['scale']))

    def graph_size(self, step: dict, hw):
        import openvino.opset13 as ops
        if not step['keep_ratio']:
            new_w, new_h = (_scalar(s) for s in step['scale'])
            return _stack_hw(new_h, new_w)
        h, w = _hw_parts(hw)
        # mmcv.rescale_size: min(long / max(h, w), short / min(h, w)),
        # then int(side * factor + 0.5).
        long_edge, short_edge = max(step['scale']), min(step['scale'])
        factor = ops.minimum(
            ops.divide(_scalar(long_edge), ops.maximum(h, w)),
            ops.divide(_scalar(short_edge), ops.minimum(h, w)))
        new_h, new_w = (ops.floor(ops.add(ops.multiply(side, factor),
                                          _scalar(0.5))) for side in (h, w))
        return _stack_hw(new_h, new_w)

    def model_api_resize_type(self, step: dict) -> Optional[str]:
        # keep ratio, pad bottom and right
        return 'fit_to_window' if step['keep_ratio'] else None


class CenterCrop(Step):
    """mmpretrain's ``CenterCrop``: at most the image, the offset rounded
    as Python's ``round``."""

    op = 'center_crop'
    transform = 'CenterCrop'
    supported = 'CenterCrop'
    fields = dict(crop_size=PAIR)

    def from_transform(self, t: dict) -> dict:
        if t.get('auto_pad', False):
            raise ValueError('CenterCrop(auto_pad=True) is not supported')
        return dict(op=self.op,
                    crop_size=list(pair(t['crop_size'], 'crop_size')))

    def fixed_shape(self, step: dict) -> Size:
        return step['crop_size'][1], step['crop_size'][0]

    def apply(self, img: np.ndarray, step: dict,
              fit: Optional[Size] = None) -> Tuple[np.ndarray, Size]:
        h, w = img.shape[:2]
        cw, ch = step['crop_size']
        ch, cw = min(ch, h), min(cw, w)
        y1 = max(0, int(round((h - ch) / 2.)))
        x1 = max(0, int(round((w - cw) / 2.)))
        return img[y1:y1 + ch, x1:x1 + cw], (x1, y1)

    def graph(self, x, hw, step: dict):
        import openvino.opset13 as ops
        cw, ch = step['crop_size']
        size = ops.minimum(hw, ops.constant(np.array([ch, cw], np.float32)))
        start = ops.round(ops.divide(ops.subtract(hw, size), _scalar(2.0)),
                          'half_to_even')
        begin = ops.convert(start, 'i64')
        end = ops.convert(ops.add(start, size), 'i64')
        crop = ops.slice(x, begin, end,
                         ops.constant(np.array([1, 1], np.int64)),
                         ops.constant(np.array([1, 2], np.int64)))
        return crop, size

    def model_api_unsupported(self, step: dict, graph: Sequence[str]) -> str:
        return ''

    def model_api_resize_type(self, step: dict) -> Optional[str]:
        return 'crop'  # a centre square, resized


class Pad(Step):
    """mmdet's/mmcv's ``Pad`` of the ``uint8`` image (before the data
    preprocessor normalizes it): to a fixed ``size`` (w, h), to a square,
    or to a ``size_divisor``, with ``value`` per channel. mmdet makes the
    padded size the ``img_shape``."""

    op = 'pad'
    transform = 'Pad'
    supported = 'Pad'
    fields = dict(size=(lambda v: v is None or is_pair(v),
                        f'null or a list of two integers in [1, {MAX_SIDE}]'),
                  square=BOOL,
                  size_divisor=(lambda v: is_int(v, 0), 'an integer >= 0'),
                  value=(lambda v: is_numbers(v, 3), 'a list of 3 numbers'))

    def from_transform(self, t: dict) -> dict:
        if t.get('padding_mode', 'constant') != 'constant':
            raise ValueError(f"Pad: only padding_mode='constant' is "
                             f"supported, got {t.get('padding_mode')!r}")
        value = t.get('pad_val', 0)
        if isinstance(value, dict):
            value = value.get('img', 0)
        value = [float(value)] * 3 if isinstance(value, (int, float)) else [
            float(v) for v in value]
        if len(value) != 3:
            raise ValueError(f'Pad: pad_val for the image must be a number '
                             f"or 3 numbers, got {t.get('pad_val')!r}")
        size = t.get('size', None)
        return dict(op=self.op, size=None if size is None else list(
            pair(size, 'Pad size')),
            square=bool(t.get('pad_to_square', False)),
            size_divisor=int(t.get('size_divisor', None) or 0), value=value)

    def fit(self, step: dict, shape: Size) -> dict:
        if step['size'] is None:
            return step
        return dict(step, size=[shape[1], shape[0]])  # follows the resize

    def fixed_shape(self, step: dict) -> Optional[Size]:
        if step['size'] is None:
            return None
        return step['size'][1], step['size'][0]

    @staticmethod
    def target(hw: Size, step: dict) -> Size:
        """The ``(h, w)`` the step pads an image of ``hw`` to: mmdet's
        ``Pad`` rule (square first; then the size divisor, else the fixed
        size)."""
        h, w = hw
        if step['square']:
            h = w = max(h, w)
        d = step['size_divisor']
        if d:
            return -(-h // d) * d, -(-w // d) * d
        if step['size'] is not None:
            return step['size'][1], step['size'][0]
        return h, w

    def checked_target(self, hw: Size, step: dict) -> Size:
        """:meth:`target`, refusing an image larger than a fixed size."""
        target = self.target(hw, step)
        if target[0] < hw[0] or target[1] < hw[1]:
            raise ValueError(
                f'an image of {hw[0]}x{hw[1]} pixels after the resize does '
                f"not fit the test pipeline's Pad to {target[0]}x"
                f'{target[1]}; allowed: a Resize before the Pad that fits it')
        return target

    def apply(self, img: np.ndarray, step: dict,
              fit: Optional[Size] = None) -> Tuple[np.ndarray, Size]:
        shape = self.checked_target(img.shape[:2], step)
        return mmcv.impad(img, shape=shape,
                          pad_val=tuple(step['value'])), (0, 0)

    def graph(self, x, hw, step: dict):
        # The self-contained IR leaves it to the export's graph, which
        # pads (pad_image, :meth:`graph_pad_image`).
        return x, hw

    def graph_padded_hw(self, hw, step: dict):
        """``(h, w)`` ``f32 [2]`` that the step pads ``hw`` to
        (:meth:`target`'s rule): mmdet's ``img_shape`` after its ``Pad``."""
        import openvino.opset13 as ops
        if step['square']:
            hw = ops.broadcast(ops.reduce_max(hw, ops.constant(np.int64(0))),
                               ops.constant(np.array([2], np.int64)))
        if step['size_divisor']:
            d = _scalar(step['size_divisor'])
            return ops.multiply(ops.ceiling(ops.divide(hw, d)), d)
        if step['size'] is not None:
            w, h = step['size']
            return ops.constant(np.array([h, w], np.float32))
        return hw

    def graph_pad_image(self, step: dict):
        """A ``PrePostProcessor`` custom step: this step (:meth:`target`'s
        rule) on the ``float32 NHWC`` image in grey levels, before the
        normalization, as mmdet's ``Pad`` pads the ``uint8`` image."""
        import openvino.opset13 as ops

        def pad(node):
            hw = ops.gather(ops.shape_of(node, 'i64'),
                            ops.constant(np.array([1, 2], np.int64)),
                            ops.constant(np.int64(0)))
            target = hw
            if step['square']:
                target = ops.broadcast(ops.reduce_max(
                    hw, ops.constant(np.int64(0)), keep_dims=True),
                    ops.constant(np.array([2], np.int64)))
            d = step['size_divisor']
            if d:
                dd = ops.constant(np.int64(d))
                target = ops.add(target, ops.floor_mod(ops.subtract(
                    dd, ops.floor_mod(target, dd)), dd))
            elif step['size'] is not None:
                target = ops.constant(np.array(step['size'][::-1], np.int64))
            zero = ops.constant(np.array([0], np.int64))
            ends = ops.concat([zero, ops.subtract(target, hw), zero], 0)
            begins = ops.constant(np.zeros(4, np.int64))
            # One value per channel: pad x - value with 0, then add it back
            # (exact: whole grey levels in float32).
            value = ops.constant(np.asarray(step['value'], np.float32))
            return ops.add(ops.pad(ops.subtract(node, value), begins, ends,
                                   'constant', ops.constant(np.float32(0))),
                           value).output(0)

        return pad

    def model_api_unsupported(self, step: dict, graph: Sequence[str]) -> str:
        if 'pad_image' not in graph:
            return ('a Pad step the IR does itself (a dynamic export), '
                    f"got pad to {step['size'] or 'square'} on the host")
        return ''


#: op -> its step, in the order the writer's refusal lists them.
STEPS: Dict[str, Step] = {
    step.op: step for step in (ResizeEdge(), Resize(), CenterCrop(), Pad())
}
