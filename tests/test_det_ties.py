"""The export's self-check and tied detection scores (issue 30, item 2).

A detector whose classification logits saturate gives many candidates a
score of exactly 1.0; torch and the IR then break the ties differently
(their top-k and NMS order equal scores their own way), keep other members
of a tied group, and those suppress other boxes below them. The check must
take that as a match; a row nothing explains must still fail it.
"""
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from helpers import RETINANET
from mmlcnetv2.deploy.tasks.det_matching import match_detections, unexplained

ov = pytest.importorskip('openvino')

# The classification conv, planted: its weights scaled up so the logits of
# the random features spread by ~9 around the bias; float32's sigmoid is
# exactly 1.0 from ~16.6 on, so about 500 of the 8000 candidates score 1.0
# and the rest spread below (the tied winners suppress boxes of lower,
# untied scores).
CLS_BIAS, CLS_WEIGHT_SCALE = 4.0, 3000.0


def _rows(boxes, scores, labels) -> dict:
    return dict(bboxes=np.asarray(boxes, np.float32),
                scores=np.asarray(scores, np.float32),
                labels=np.asarray(labels, np.int64))


def test_a_tie_and_what_it_suppresses_are_explained():
    """One side kept A of the tied A and B, and A suppressed C; the other
    kept B and C (B does not overlap C by the NMS threshold): all three
    unmatched rows are explained. Before the fix C was not (no unmatched
    row of the other side ties with its 0.8)."""
    a = _rows([[0, 0, 10, 10]], [1.0], [0])
    b = _rows([[-4, 0, 6, 10], [5, 0, 15, 10]], [1.0, 0.8], [0, 0])
    pairs, lone_a, lone_b = match_detections(a, b)
    assert pairs == [] and len(lone_a) == 1 and len(lone_b) == 2
    assert unexplained(a, b, lone_a, lone_b, 1e-3, iou_thr=0.3) == 0


def test_rows_no_tie_explains_still_count():
    """What a tie cannot explain still fails: a detection one side lacks
    with no unmatched suppressor of its class above it, one that only a
    lower score overlaps, one below a higher score that both sides kept
    (an NMS that did not suppress), and one whose suppressor overlaps by
    less than the NMS threshold."""
    a = _rows([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.7], [0, 0])
    # a's second row is missing from b: nothing of b is unmatched.
    b = _rows([[0, 0, 10, 10]], [0.9], [0])
    assert unexplained(a, b, *match_detections(a, b)[1:], 1e-3) == 1
    # b's B' (0.6) is a's B (0.5) moved: B' would suppress B, but nothing
    # of a above B' could suppress it; a's far-away E has no partner.
    a = _rows([[0, 0, 10, 10], [0, 0, 30, 30], [100, 100, 110, 110]],
              [0.9, 0.5, 0.4], [0, 0, 0])
    b = _rows([[0, 0, 10, 10], [2, 0, 32, 30]], [0.9, 0.6], [0, 0])
    assert unexplained(a, b, *match_detections(a, b)[1:], 1e-3) == 2
    # b kept a box that a's matched (shared) row suppressed in a.
    a = _rows([[0, 0, 10, 10]], [0.9], [0])
    b = _rows([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.6], [0, 0])
    assert unexplained(a, b, *match_detections(a, b)[1:], 1e-3) == 1
    # The tie explains A and B, but A overlaps C by 0.03 < 0.5: C stays.
    a = _rows([[0, 0, 10, 10]], [1.0], [0])
    b = _rows([[-4, 0, 6, 10], [9.5, 0, 19.5, 10]], [1.0, 0.8], [0, 0])
    assert unexplained(a, b, *match_detections(a, b)[1:], 1e-3,
                       iou_thr=0.5) == 1


def _saturated_detector(tmp_path):
    """A tiny RetinaNet (helpers.RETINANET, 2 classes, every detection
    kept) with random convolutions and the classification bias planted so
    that many candidates score exactly 1.0; config and checkpoint."""
    from mmlcnetv2.apis import build_model, load_config, register_scope
    config = tmp_path / 'det.py'
    config.write_text(RETINANET % (1000, 96, 96))
    cfg = load_config(str(config))
    register_scope(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)  # PyTorch's default init
    with torch.no_grad():
        model.bbox_head.retina_cls.bias.fill_(CLS_BIAS)
        model.bbox_head.retina_cls.weight.mul_(CLS_WEIGHT_SCALE)
    ckpt = tmp_path / 'det.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return str(config), str(ckpt), model.eval()


@pytest.mark.slow  # two exports, ~40 s on 2 loaded cores
@pytest.mark.parametrize('nms', ['host', 'graph'])
def test_tied_scores_export(tmp_path, nms):
    """Hundreds of candidates score exactly 1.0 (checked on the export's
    own example input), so torch and the IR keep different members of tied
    groups: the export's check treats that as a match and writes the IR
    (before the fix ``--nms host`` was refused: "does not export
    faithfully")."""
    from mmlcnetv2.deploy import export
    from mmlcnetv2.deploy.tasks import get_task
    config, ckpt, model = _saturated_detector(tmp_path)
    task = get_task('detection').with_options(nms='host')
    example = task.example_inputs((96, 96), 2)
    with torch.no_grad():
        _, scores, _ = task.wrap(model)(*example)
    assert int((scores == 1.0).sum()) >= 100  # the precondition
    meta = export(config, ckpt, str(tmp_path / 'ir'), nms=nms)
    print(f"{int((scores == 1.0).sum())} of {scores.numel()} candidates "
          f"at 1.0; checked: {meta['conversion_check']['summary']}")
    assert (tmp_path / 'ir' / 'model.xml').is_file()
