"""The drawing both shapes generators share
(mmlcnetv2/datasets/generate/shapes_common.py)."""
import math

import numpy as np
import pytest

from mmlcnetv2.datasets.generate import shapes as make_shapes
from mmlcnetv2.datasets.generate import shapes_seg as make_shapes_seg
from mmlcnetv2.datasets.generate.shapes_common import SHAPES, Shape


def test_both_generators_draw_the_same_shapes():
    assert make_shapes.CLASSES == SHAPES
    assert make_shapes_seg.CLASSES == ('background', ) + SHAPES


def test_square_at_rotation_zero_is_upright():
    # Half-side 10 px: circumradius 10 * sqrt(2).
    mask = np.zeros((64, 64), np.uint8)
    Shape('square', 32.0, 32.0, 10 * math.sqrt(2)).fill(
        np.zeros((64, 64, 3), np.uint8), (255, 255, 255), mask, label=2)
    ys, xs = np.nonzero(mask)
    assert set(mask[ys, xs]) == {2}
    # An upright square fills its bounding box; a diamond fills half of it.
    box_area = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
    assert len(xs) / box_area > 0.95
    assert 19 <= xs.max() - xs.min() + 1 <= 22


def test_box_is_the_full_extent_and_unknown_kinds_are_named():
    x1, y1, x2, y2 = Shape('circle', 10.0, 20.0, 5.0).box()
    assert (x1, y1, x2, y2) == (5.0, 15.0, 15.0, 25.0)
    for kind in SHAPES[1:]:
        pts = Shape(kind, 0.0, 0.0, 4.0, rot=0.3).vertices()
        assert np.allclose(np.hypot(pts[:, 0], pts[:, 1]).max(), 4.0)
    with pytest.raises(ValueError, match="unknown shape 'hexagon'"):
        Shape('hexagon', 0.0, 0.0, 1.0).vertices()
