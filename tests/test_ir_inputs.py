# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The IR's inputs are found by name (``mmlcnetv2.deploy.ir_inputs``): an
IR whose ``img_shape`` comes first is fed, and resized in the graph, as
one whose image comes first."""
import numpy as np
import pytest

from mmlcnetv2.deploy.ir_inputs import (IMAGE_INPUT, SIZE_INPUT, ir_feed,
                                        port_index)
from mmlcnetv2.deploy.preprocess.graph import add_preprocessing

ov = pytest.importorskip('openvino')


def _identity(size_first: bool):
    """``input [B, 3, H, W]`` and ``img_shape [B, 2]`` in, the same out;
    the parameters in the given order, named as exports name them."""
    import openvino.opset13 as ops
    x = ops.parameter([-1, 3, -1, -1], np.float32)
    size = ops.parameter([-1, 2], np.float32)
    x.output(0).get_tensor().set_names({IMAGE_INPUT})
    size.output(0).get_tensor().set_names({SIZE_INPUT})
    params = [size, x] if size_first else [x, size]
    return ov.Model([ops.result(x), ops.result(size)], params)


@pytest.mark.parametrize('size_first', [False, True])
def test_inputs_are_fed_by_name(size_first):
    model = _identity(size_first)
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    feed = ir_feed(model.inputs, x, [[4, 5], [3, 2]])
    assert port_index(model.inputs, IMAGE_INPUT) == int(size_first)
    compiled = ov.Core().compile_model(model, 'CPU')
    out = compiled(feed)
    np.testing.assert_array_equal(out[0], x)
    np.testing.assert_array_equal(out[1], [[4, 5], [3, 2]])


def test_graph_resize_uses_the_img_shape_input():
    """``--input image``: the graph resizes to the ``img_shape`` input it
    finds by name, and adds none of its own. (Image first, as exports are:
    OpenVINO's PrePostProcessor refuses a custom step on input 1 that reads
    parameter 0, "Model references undeclared parameters".)"""
    pre = dict(mean=[0.0] * 3, std=[1.0] * 3, color_order='BGR',
               pad_size_divisor=0, pad_value=0.0,
               steps=[dict(op='resize', scale=[8, 6], keep_ratio=False,
                           interpolation='bilinear')])
    model = add_preprocessing(_identity(False), pre, dynamic=True,
                              resize=True)
    assert len(model.inputs) == 2
    image = np.random.default_rng(0).integers(0, 256, (1, 20, 30, 3),
                                              dtype=np.uint8)
    compiled = ov.Core().compile_model(model, 'CPU')
    out = compiled(ir_feed(model.inputs, image, [[6, 8]]))
    assert out[0].shape == (1, 3, 6, 8)
    np.testing.assert_array_equal(out[1], [[6, 8]])
