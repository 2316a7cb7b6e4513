# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The self-contained IR for OpenVINO Model API: one input, the decoded
``uint8`` BGR image ``[1, H, W, 3]`` as it is; everything else inside.

Model API's own preprocessing cannot replay an OpenMMLab test pipeline: it
has no ResizeEdge-then-CenterCrop (its ``crop`` takes the whole centre
square), a dynamic IR gets the image unresized, and a detector's
``img_shape`` input would get Model API's ``[h, w, 1]``. So this IR does
what the host does for the default (``uint8``) export in front of it, and
what the inferencer does after it behind it:

- in front: the test pipeline's steps, each as its step of
  :data:`~mmlcnetv2.deploy.preprocess.steps.STEPS` does it in the graph
  (:meth:`~mmlcnetv2.deploy.preprocess.steps.Step.graph`: sizes from the
  image's shape by mmcv's rules, each resize the graph's bilinear one,
  within one grey level of cv2's); a detector's ``img_shape`` is the
  resized size;
- behind: the task's :meth:`~mmlcnetv2.deploy.tasks.DeployTask.
  model_api_outputs` (detection: boxes into the ``orig_width x
  orig_height`` frame Model API scales back to the image; segmentation:
  logits cropped and resized to the image, so Model API's argmax is the
  inferencer's).

Its ``model_info`` says ``embedded_processing`` (:mod:`.rt_info`), so
Model API feeds the image untouched.

Example:
    >>> ov.save_model(self_contained_model(ov_model, meta),
    ...               'deploy/det/model_api.xml')  # doctest: +SKIP
"""
from typing import List, Tuple

import numpy as np

from ..ir_inputs import IMAGE_INPUT, SIZE_INPUT, port_index
from ..preprocess.spec import in_graph
from ..preprocess.steps import STEPS, Pad
from ..tasks import get_task
from .rt_info import model_info, write_model_info


def unsupported(meta: dict) -> str:
    """Why the export ``meta`` describes has no self-contained form, or
    ``''``: it must be the ``uint8`` input form (the graph normalizes; the
    host resizes), and each step one the graph can do
    (:meth:`~mmlcnetv2.deploy.preprocess.steps.Step.model_api_unsupported`:
    every resize bilinear, a ``Pad`` step, RTMDet's or YOLOX's, one the
    graph does: ``pad_image``)."""
    graph = in_graph(meta)
    if 'normalize' not in graph or 'resize' in graph:
        return (f"the uint8 input form (--input uint8) only, got input "
                f"dtype {meta['input'].get('dtype', 'float32')!r} with "
                f'preprocess_in_graph {graph}')
    for step in meta['preprocess']['steps']:
        why = STEPS[step['op']].model_api_unsupported(step, graph)
        if why:
            return why
    return get_task(meta['task']).model_api_unsupported(meta)


def _image_hw(image):
    """``(h, w)`` of an ``NHWC`` image as ``f32 [2]``."""
    import openvino.opset13 as ops
    return ops.convert(ops.gather(ops.shape_of(image, 'i64'), ops.constant(
        np.array([1, 2], np.int64)), ops.constant(np.int64(0))), 'f32')


def _replay_steps(image, steps: List[dict]) -> Tuple[object, object]:
    """The test pipeline's steps on the ``u8 [1, H, W, 3]`` ``image``: the
    ``u8`` result and its ``(h, w)`` ``f32 [2]`` (a ``pad`` step is left
    to the export's graph, which does it: ``pad_image``)."""
    import openvino.opset13 as ops
    x = ops.convert(image, 'f32')
    hw = _image_hw(image)
    for step in steps:
        x, hw = STEPS[step['op']].graph(x, hw, step)
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
        if step['op'] == Pad.op:
            img_shape = STEPS[Pad.op].graph_padded_hw(img_shape, step)
    feeds = {IMAGE_INPUT: x.output(0), SIZE_INPUT: ops.unsqueeze(
        img_shape, ops.constant(np.int64(0))).output(0)}
    for name, feed in feeds.items():
        index = port_index(model.inputs, name)
        if index is None:
            continue  # no img_shape input: classification, segmentation
        param = model.get_parameters()[index]
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
