# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The graph form's candidate selection (threshold, then the ``nms_pre``
best: :func:`~mmlcnetv2.deploy.tasks.dense_heads.top_above`) selects what
the fixed-count form (``topk(nms_pre)``, then the threshold; ``--nms
host``) does, so both NMS places keep giving mmdet's detections."""
import pytest
import torch

from mmlcnetv2.deploy.tasks.dense_heads import DenseCandidates, top_above


def _topk_then_threshold(scores, thr, k):
    vals, idx = scores.topk(k, dim=1)
    valid = vals > thr
    return (torch.where(valid, vals, torch.full_like(vals, -1.0)),
            torch.where(valid, idx, torch.zeros_like(idx)))


@pytest.mark.parametrize('batch', [1, 3])
def test_top_above_equals_topk_then_threshold(batch):
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(batch, 4000, generator=g)
    scores[0, 10:17] = 0.97  # ties
    scores[-1, :] *= 0.5     # a row with fewer than k above thr
    scores[-1, :5] = 0.95
    for thr, k in ((0.9, 300), (0.9, 1000), (0.999, 50), (0.2, 100)):
        vals, idx = top_above(scores, thr, k)
        want_vals, want_idx = _topk_then_threshold(scores, thr, k)
        assert torch.equal(vals, want_vals), (thr, k)
        valid = want_vals > thr
        # tied scores may come in another order: the scores they point at
        # are the same
        assert torch.equal(torch.gather(scores, 1, idx)[valid],
                           want_vals[valid])
        assert torch.equal(idx[~valid], torch.zeros_like(idx[~valid]))


def test_top_above_segments_are_ranked_apart():
    """With ``ends``, each segment of a row (a head level) gets its own
    ``k`` slots: the same as :func:`top_above` on each segment alone, its
    indices shifted by where the segment starts. The first segment holds
    more than ``k`` scores above ``thr`` and the last one none, so both the
    cut and the padding count."""
    g = torch.Generator().manual_seed(1)
    scores = torch.rand(2, 900, generator=g)
    scores[:, 600:] = 0.0
    bounds = [0, 500, 600, 900]
    ends = torch.tensor(bounds[1:])
    thr, k = 0.5, 120
    vals, idx = top_above(scores, thr, k, ends)
    assert vals.shape == idx.shape == (2, 3 * k)
    for seg, (start, end) in enumerate(zip(bounds, bounds[1:])):
        want_vals, want_idx = top_above(scores[:, start:end], thr, k)
        part = slice(seg * k, (seg + 1) * k)
        assert torch.equal(vals[:, part], want_vals), seg
        valid = want_vals > thr
        assert torch.equal(torch.gather(scores, 1, idx[:, part])[valid],
                           want_vals[valid]), seg
    assert (vals[:, :k] > thr).all()          # the cut: 250 above, 120 kept
    assert (vals[:, 2 * k:] == -1).all()      # nothing above in the last


@pytest.mark.parametrize('from_logits', [False, True])
def test_top_above_by_prior_finds_the_same(from_logits):
    """Searching a prior's classes only where its best score is above the
    threshold (``width``), on scores or on their logits (``activate``),
    selects what the search over all the scores does: the same scores at
    the same indices. Most priors have nothing above, some several."""
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 300 * 7, generator=g) * 2 - 4
    scores = logits.sigmoid()
    ends = torch.tensor([1400, 2100])
    want = top_above(scores, 0.3, 50, ends)
    got = top_above(logits if from_logits else scores, 0.3, 50, ends,
                    width=7, activate=torch.sigmoid if from_logits else None)
    assert 50 < int((scores > 0.3).sum()) < 1000
    assert torch.equal(got[0], want[0])
    assert torch.equal(got[1], want[1])


@pytest.mark.slow  # a detector built (~20 s on 2 idle cores)
def test_graph_and_host_candidates_are_the_same_set(seed):
    """On the PicoDet-style small head (random weights, a prior that lets
    a few hundred candidates through), both forms give the same valid
    (box, score, label) candidates. Seeded: the weights come from torch's
    global generator, whatever the tests before left in it."""
    from mmlcnetv2.apis.build import prepare_for_export
    from benchmarks.anchors import mmdet_cls_convs, \
        plant_score_prior
    from benchmarks.random_init import random_image
    from benchmarks.zoo import random_model
    model = prepare_for_export(random_model(
        'mmlcnetv2::det/picodet-style_lcnetv2-small_320_coco.py'))
    plant_score_prior(mmdet_cls_convs(model.bbox_head), 0.02)
    x = torch.from_numpy(random_image((320, 320)))
    img_shape = torch.tensor([[320., 300.]])
    out = {}
    with torch.no_grad():
        feats = model.extract_feat(x)
        for fixed in (True, False):
            boxes, scores, labels, valid = DenseCandidates(
                model.bbox_head, fixed_count=fixed)(feats, img_shape)
            keep = valid[0]
            out[fixed] = sorted(zip(scores[0, keep].tolist(),
                                    labels[0, keep].tolist(),
                                    map(tuple, boxes[0, keep].tolist())))
    assert 50 < len(out[True]) < 4000  # the selection matters
    assert out[True] == out[False]
