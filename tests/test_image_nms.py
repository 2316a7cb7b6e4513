# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""ImageNMS: torch (the host NMS) and its OpenVINO conversion (the graph's
``NonMaxSuppression`` that stops at ``max_per_img``) keep the same boxes,
and both are greedy NMS per image cut to the ``max_per_img`` best."""
import numpy as np
import pytest
import torch

from mmlcnetv2.deploy.tasks.image_nms import ImageNMS, openvino_extensions

ov = pytest.importorskip('openvino')


class _Wrapper(torch.nn.Module):
    def __init__(self, nms: ImageNMS) -> None:
        super().__init__()
        self.nms = nms

    def forward(self, boxes, scores):
        return self.nms(boxes, scores)


def _candidates(batch: int, num: int, seed: int = 0):
    """Boxes in clusters (so that NMS suppresses), distinct scores, a
    quarter of them rejected (-1)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(batch, num, 2, generator=g) * 200
    centres = centres.round() - centres.round() % 40  # clusters of centres
    sizes = torch.rand(batch, num, 2, generator=g) * 30 + 10
    jitter = torch.rand(batch, num, 2, generator=g) * 8
    boxes = torch.cat([centres + jitter, centres + jitter + sizes], dim=-1)
    scores = torch.randperm(batch * num, generator=g).float().reshape(
        batch, num) / (batch * num)
    scores[torch.rand(batch, num, generator=g) < 0.25] = -1.0
    return boxes, scores


def _greedy_per_image(boxes, scores, iou_thr, max_per_img):
    """The reference: torchvision's NMS on each image alone, then the
    ``max_per_img`` first kept."""
    from torchvision.ops import nms
    kept = []
    for image, (b, s) in enumerate(zip(boxes, scores)):
        cand = (s > -1).nonzero().squeeze(1)
        keep = cand[nms(b[cand], s[cand], iou_thr)][:max_per_img]
        kept += [(float(s[i]), image, int(i)) for i in keep]
    return [(image, i) for _, image, i in sorted(kept, reverse=True)]


def test_torch_form_is_greedy_nms_per_image_cut():
    boxes, scores = _candidates(3, 400)
    got = ImageNMS(0.5, max_per_img=20)(boxes, scores)
    want = _greedy_per_image(boxes, scores, 0.5, 20)
    assert [tuple(r) for r in got.tolist()] == want
    assert len(want) == 60  # every image had more than 20 to keep


@pytest.mark.parametrize('batch', [1, 2])
def test_openvino_form_keeps_the_same_boxes(batch):
    """The converted op: the same (image, candidate) rows in the same
    order, with a dynamic batch and candidate count, and its
    NonMaxSuppression limited to max_per_img."""
    nms = ImageNMS(0.6, max_per_img=25)
    boxes, scores = _candidates(2, 300, seed=1)
    model = ov.convert_model(
        _Wrapper(nms), example_input=(boxes, scores),
        input=[ov.PartialShape([-1, -1, 4]), ov.PartialShape([-1, -1])],
        extension=openvino_extensions())
    ops = {op.get_type_name(): op for op in model.get_ops()}
    assert 'NonMaxSuppression' in ops
    limit = ops['NonMaxSuppression'].input_value(2).get_node()
    assert limit.get_type_name() == 'Constant'
    assert int(limit.get_data().reshape(-1)[0]) == 25
    compiled = ov.Core().compile_model(model, 'CPU')
    boxes, scores = _candidates(batch, 500, seed=2)
    got = compiled((boxes.numpy(), scores.numpy()))[0]
    want = nms(boxes, scores).numpy()
    assert got.shape == want.shape and len(want) == 25 * batch
    np.testing.assert_array_equal(got, want)
