# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The self-contained IR for OpenVINO Model API: one input, the decoded
``uint8`` BGR image ``[1, H, W, 3]`` as it is; everything else inside.

Model API's own preprocessing cannot replay an OpenMMLab test pipeline: it
has no ResizeEdge-then-CenterCrop (its ``crop`` takes the whole centre
square), a dynamic IR gets the image unresized, and a detector's
``img_shape`` input would get Model API's ``[h, w, 1]``. So this IR does
what the host does for the default (``uint8``) export in front of it, and
what the inferencer does after it behind it:

- in front: the test pipeline's steps (``resize_edge``, ``resize`` with or
  without ``keep_ratio``, ``center_crop``), sizes computed from the image's
  shape by mmcv's rules, each resize the graph's bilinear one
  (:func:`~mmlcnetv2.deploy.graph_preprocess._resize_to`: within one grey
  level of cv2's); a detector's ``img_shape`` is the resized size;
- behind: the task's :meth:`~mmlcnetv2.deploy.tasks.DeployTask.
  model_api_outputs` (detection: boxes into the ``orig_width x
  orig_height`` frame Model API scales back to the image; segmentation:
  logits cropped and resized to the image, so Model API's argmax is the
  inferencer's).

Its ``model_info`` says ``embedded_processing`` (:mod:`.model_info`), so
Model API feeds the image untouched.

Example:
    >>> ov.save_model(self_contained_model(ov_model, meta),
    ...               'deploy/det/model_api.xml')  # doctest: +SKIP
"""
from typing import List, Tuple

import numpy as np

from .model_info import model_info, write_model_info
from .pipeline import in_graph
from .tasks import get_task


def unsupported(meta: dict) -> str:
    """Why the export ``meta`` describes has no self-contained form, or
    ``''``: it must be the ``uint8`` input form (the graph normalizes; the
    host resizes), every resize bilinear, a ``Pad`` step (RTMDet's, YOLOX's)
    one the graph does (``pad_image``)."""
    graph = in_graph(meta)
    if 'normalize' not in graph or 'resize' in graph:
        return (f"the uint8 input form (--input uint8) only, got input "
                f"dtype {meta['input'].get('dtype', 'float32')!r} with "
                f'preprocess_in_graph {graph}')
    for step in meta['preprocess']['steps']:
        if step['op'] == 'pad':
            if 'pad_image' not in graph:
                return ('a Pad step the IR does itself (a dynamic export), '
                        f"got pad to {step['size'] or 'square'} on the host")
            continue
        if step['op'] != 'center_crop' and \
                step['interpolation'] != 'bilinear':
            return (f"bilinear resizes only, got {step['op']} with "
                    f"interpolation {step['interpolation']!r}")
    return get_task(meta['task']).model_api_unsupported(meta)


def _scalar(value: float):
    import openvino.opset13 as ops
    return ops.constant(np.float32(value))


def _resize_size(step: dict, hw) -> object:
    """``(h, w)`` ``f32 [2]`` after ``step`` (a ``resize`` or
    ``resize_edge``) of an image of size ``hw``, by mmcv's rules
    (:func:`~mmlcnetv2.deploy.pipeline.apply_steps`)."""
    import openvino.opset13 as ops
    h, w = (ops.gather(hw, ops.constant(np.int64(i)), ops.constant(
        np.int64(0))) for i in (0, 1))
    if step['op'] == 'resize_edge':
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
    elif step['keep_ratio']:
        # mmcv.rescale_size: min(long / max(h, w), short / min(h, w)),
        # then int(side * factor + 0.5).
        long_edge, short_edge = max(step['scale']), min(step['scale'])
        factor = ops.minimum(
            ops.divide(_scalar(long_edge), ops.maximum(h, w)),
            ops.divide(_scalar(short_edge), ops.minimum(h, w)))
        new_h, new_w = (ops.floor(ops.add(ops.multiply(side, factor),
                                       _scalar(0.5))) for side in (h, w))
    else:
        new_w, new_h = (_scalar(s) for s in step['scale'])
    return ops.concat([ops.unsqueeze(new_h, ops.constant(np.int64(0))),
                       ops.unsqueeze(new_w, ops.constant(np.int64(0)))], 0)


def _center_crop(x, hw, crop_size: List[int]) -> Tuple[object, object]:
    """The centre crop of ``NHWC`` ``x`` of size ``hw`` (mmpretrain's
    ``CenterCrop``: at most the image, offset rounded half to even as
    Python's ``round``); the crop and its ``(h, w)``."""
    import openvino.opset13 as ops
    cw, ch = crop_size
    size = ops.minimum(hw, ops.constant(np.array([ch, cw], np.float32)))
    start = ops.round(ops.divide(ops.subtract(hw, size), _scalar(2.0)),
                      'half_to_even')
    begin = ops.convert(start, 'i64')
    end = ops.convert(ops.add(start, size), 'i64')
    crop = ops.slice(x, begin, end, ops.constant(np.array([1, 1], np.int64)),
                     ops.constant(np.array([1, 2], np.int64)))
    return crop, size


def _image_hw(image):
    """``(h, w)`` of an ``NHWC`` image as ``f32 [2]``."""
    import openvino.opset13 as ops
    return ops.convert(ops.gather(ops.shape_of(image, 'i64'), ops.constant(
        np.array([1, 2], np.int64)), ops.constant(np.int64(0))), 'f32')


def _padded_hw(hw, step: dict):
    """``(h, w)`` ``f32 [2]`` that a ``pad`` step pads ``hw`` to
    (:func:`~mmlcnetv2.deploy.pipeline.pad_target`'s rule): mmdet's
    ``img_shape`` after its ``Pad``."""
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


def _replay_steps(image, steps: List[dict]) -> Tuple[object, object]:
    """The test pipeline's steps on the ``u8 [1, H, W, 3]`` ``image``: the
    ``u8`` result and its ``(h, w)`` ``f32 [2]`` (a ``pad`` step is left
    to the export's graph, which does it: ``pad_image``)."""
    import openvino.opset13 as ops
    from .graph_preprocess import _resize_to
    x = ops.convert(image, 'f32')
    hw = _image_hw(image)
    for step in steps:
        if step['op'] == 'pad':
            continue
        if step['op'] == 'center_crop':
            x, hw = _center_crop(x, hw, step['crop_size'])
            continue
        hw = _resize_size(step, hw)
        x = _resize_to(ops.unsqueeze(hw, ops.constant(np.int64(0))))(x)
    return ops.convert(x, 'u8'), hw


def self_contained_model(ov_model, meta: dict):
    """The Model API IR of a ``uint8``-input export: ``image`` (``u8
    [1, H, W, 3]`` BGR, any size) in, the task's outputs in image
    coordinates out, ``model_info`` set (``embedded_processing``).

    Args:
        ov_model (ov.Model): The export's final IR (quantized, for int8);
            not changed (a clone is rewired).
        meta (dict): Its ``deploy.json``.

    Raises:
        ValueError: the export has no such form (:func:`unsupported`).
    """
    import openvino as ov
    import openvino.opset13 as ops
    why = unsupported(meta)
    if why:
        raise ValueError(f'--model-api: {why}')
    model = ov_model.clone()
    image = ops.parameter(ov.PartialShape([1, -1, -1, 3]), ov.Type.u8,
                          name='image')
    image.output(0).get_tensor().set_names({'image'})
    image.set_layout(ov.Layout('NHWC'))
    image_hw = _image_hw(image.output(0))
    steps = meta['preprocess']['steps']
    x, resized_hw = _replay_steps(image.output(0), steps)
    # A detector's img_shape: after a Pad, the padded size (mmdet's Pad
    # records it; the boxes are clipped to it).
    img_shape = resized_hw
    for step in steps:
        if step['op'] == 'pad':
            img_shape = _padded_hw(img_shape, step)
    feeds = [x.output(0),
             ops.unsqueeze(img_shape, ops.constant(np.int64(0))).output(0)]
    for param, feed in zip(model.get_parameters(), feeds):
        for target in list(param.output(0).get_target_inputs()):
            target.replace_source_output(feed)
    outs = get_task(meta['task']).model_api_outputs(
        [r.input_value(0) for r in model.get_results()], resized_hw,
        image_hw, meta)
    results = []
    for out, name in zip(outs, meta['outputs']):
        result = ops.result(out)
        result.output(0).get_tensor().set_names({name})
        results.append(result)
    out = ov.Model(results, [image], 'mmlcnetv2-model-api')
    write_model_info(out, model_info(meta, self_contained=True))
    return out
