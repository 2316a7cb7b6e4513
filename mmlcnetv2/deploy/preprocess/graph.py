# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Preprocessing inside the IR: the ``uint8`` image input.

OpenVINO's ``PrePostProcessor`` puts in front of the network what the
host's numpy ``normalize`` did: ``u8 -> f32``, the colour order, the mean and
std, and ``NHWC -> NCHW``; for a dynamic (detection/segmentation) IR also
the padding to the size divisor with ``pad_value`` (in normalized space, as
mmdet/mmseg pad). The CPU plugin folds mean and scale into the first
convolution, so this costs about nothing, where the numpy version took
about half the network's time on a 224x224 classifier.

What stays on the host (:func:`mmlcnetv2.deploy.preprocess.host.prepare`): the
resize and the centre crop. Their output size depends on the image's size,
which a static graph cannot express, and for the dynamic graphs OpenVINO's
``Interpolate`` is not OpenCV's ``cv2.resize`` on ``uint8`` (fixed-point
weights, rounding to ``uint8``), which the OpenMMLab test pipelines use;
cv2 on ``uint8`` is cheap (docs/deploy.md, "Input forms"). The ``image``
input form of a dynamic detector or segmentor moves the resize in too
(``resize``: a bilinear ``Interpolate`` to the ``img_shape`` input, rounded
to whole grey levels as cv2 rounds; within one grey level of cv2, ~89 % of
pixels equal), for devices that should get the decoded image as it is.

Example:
    >>> ov_model = add_preprocessing(ov_model, meta['preprocess'],
    ...                              dynamic=True)  # doctest: +SKIP
"""
from typing import List

from ..ir_inputs import IMAGE_INPUT, SIZE_INPUT, port_index
from .steps import STEPS, Pad, graph_resize

#: The steps the graph of a ``uint8``-input IR does, in order, as
#: ``deploy.json`` records them (``input.preprocess_in_graph``); ``pad``
#: only for a dynamic IR with a size divisor.
GRAPH_STEPS = ('to_float', 'resize', 'pad_image', 'color_order',
               'normalize', 'pad', 'layout')


def graph_steps(pre: dict, dynamic: bool, resize: bool = False) -> List[str]:
    """What the graph of a ``uint8``-input export does, in order
    (``resize``: the ``image`` input form).

    Example:
        >>> graph_steps(dict(pad_size_divisor=32), dynamic=True)
        ['to_float', 'color_order', 'normalize', 'pad', 'layout']
        >>> graph_steps(dict(pad_size_divisor=0), dynamic=False)
        ['to_float', 'color_order', 'normalize', 'layout']
    """
    pad = dynamic and bool(pre.get('pad_size_divisor', 0))
    # The test pipeline's Pad of the uint8 image (mmdet's RTMDet/YOLOX:
    # to 640x640 with 114); a static IR's host pads the uint8 image itself.
    pad_image = dynamic and any(step['op'] == Pad.op
                                for step in pre.get('steps', ()))
    wanted = dict(pad=pad, resize=resize, pad_image=pad_image)
    return [s for s in GRAPH_STEPS if wanted.get(s, True)]


def _pad_to_divisor(divisor: int, value: float):
    """A ``PrePostProcessor`` custom step: pad an ``NHWC`` image at the
    bottom and right to multiples of ``divisor`` with ``value``."""
    import numpy as np
    import openvino.opset13 as ops

    def pad(node):
        hw = ops.gather(ops.shape_of(node, 'i64'),
                        ops.constant(np.array([1, 2], np.int64)),
                        ops.constant(np.int64(0)))
        d = ops.constant(np.int64(divisor))
        # (d - hw % d) % d: what ceil(hw / d) * d adds.
        extra = ops.floor_mod(ops.subtract(d, ops.floor_mod(hw, d)), d)
        zero = ops.constant(np.array([0], np.int64))
        ends = ops.concat([zero, extra, zero], 0)
        begins = ops.constant(np.zeros(4, np.int64))
        return ops.pad(node, begins, ends, 'constant',
                       ops.constant(np.float32(value))).output(0)

    return pad


def _size_input(ov_model):
    """The ``img_shape [B, 2]`` input to resize to: a detector's own
    (it also clips boxes to it), or one added for the resize (segmentation:
    the host crops the logits to it, as before)."""
    import openvino as ov
    import openvino.opset13 as ops
    index = port_index(ov_model.inputs, SIZE_INPUT)
    if index is not None:
        return ov_model.get_parameters()[index].output(0)
    size = ops.parameter(ov.PartialShape([-1, 2]), ov.Type.f32,
                         name=SIZE_INPUT)
    size.output(0).get_tensor().set_names({SIZE_INPUT})
    ov_model.add_parameters([size])
    return size.output(0)


def add_preprocessing(ov_model, pre: dict, dynamic: bool,
                      resize: bool = False):
    """The IR taking the resized ``uint8`` image, ``NHWC``, BGR (with
    ``resize``: the image as decoded, resized to the ``img_shape`` input).

    Args:
        ov_model (ov.Model): The converted network (input 0: the normalized
            ``float32 [B, 3, H, W]`` tensor).
        pre (dict): ``deploy.json``'s ``preprocess`` (mean, std, colour
            order, size divisor, pad value).
        dynamic (bool): The IR has dynamic height and width, so the padding
            to the size divisor can happen inside.
        resize (bool): Resize inside too, to the ``(h, w)`` of the
            ``img_shape`` input (a detector's; added for a segmentor). Batch
            1 in practice: the images of a batch share one size.

    Returns:
        ov.Model: The model with the preprocessing built in (input 0:
        ``uint8 [B, H, W, 3]`` BGR; the other inputs unchanged).
    """
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor
    ppp = PrePostProcessor(ov_model)
    image = port_index(ov_model.inputs, IMAGE_INPUT)
    inp = ppp.input(image)
    inp.tensor().set_element_type(ov.Type.u8).set_layout(
        ov.Layout('NHWC')).set_color_format(ColorFormat.BGR)
    inp.model().set_layout(ov.Layout('NCHW'))
    steps = inp.preprocess().convert_element_type(ov.Type.f32)
    if resize:
        steps.custom(graph_resize(_size_input(ov_model)))
    if 'pad_image' in graph_steps(pre, dynamic):
        for step in pre['steps']:
            if step['op'] == Pad.op:
                steps.custom(STEPS[Pad.op].graph_pad_image(step))
    if pre['color_order'] == 'RGB':
        steps.convert_color(ColorFormat.RGB)
    steps.mean([float(v) for v in pre['mean']]).scale(
        [float(v) for v in pre['std']])
    if 'pad' in graph_steps(pre, dynamic):
        steps.custom(_pad_to_divisor(int(pre['pad_size_divisor']),
                                     float(pre.get('pad_value', 0.0))))
    model = ppp.build()
    model.inputs[image].get_tensor().set_names({IMAGE_INPUT})
    return model
