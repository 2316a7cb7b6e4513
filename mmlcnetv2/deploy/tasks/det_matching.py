# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Two sets of detections of one image matched one to one.

The export's conversion check (IR against torch on the example input) and
the upstream parity tests (IR against mmdet's inferencer) compare rows,
not positions: near-equal scores may come out in another order, and an
NMS between two near-equal scores may keep either box.

Example:
    >>> pairs, lone_a, lone_b = match_detections(a, b, score_tol=1e-4)
    ... # doctest: +SKIP
"""
from typing import Dict, List, Tuple

import numpy as np
import torch


def match_detections(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray],
                     iou_thr: float = 0.99, score_tol: float = np.inf
                     ) -> Tuple[List[Tuple[int, int]], np.ndarray,
                                np.ndarray]:
    """Greedy one-to-one matching, ``a``'s best scores first: each row of
    ``a`` takes the unused row of ``b`` of the same label with the highest
    IoU, if that IoU is at least ``iou_thr`` and the scores differ by at
    most ``score_tol``.

    Args:
        a, b: ``bboxes [N, 4]``, ``scores [N]``, ``labels [N]``.

    Returns:
        The ``(i, j)`` pairs, then the unmatched row indices of ``a`` and
        of ``b``.
    """
    from torchvision.ops import box_iou
    iou = box_iou(torch.from_numpy(np.asarray(a['bboxes'], np.float32)),
                  torch.from_numpy(np.asarray(b['bboxes'], np.float32))
                  ).numpy()
    iou[np.asarray(a['labels'])[:, None] != np.asarray(b['labels'])[None]] = 0
    pairs, used = [], set()
    for i in np.argsort(-np.asarray(a['scores']), kind='stable'):
        for j in np.argsort(-iou[i], kind='stable'):
            if iou[i, j] < iou_thr:
                break
            if j not in used and abs(float(a['scores'][i]) - float(
                    b['scores'][j])) <= score_tol:
                pairs.append((int(i), int(j)))
                used.add(int(j))
                break
    lone_a = np.setdiff1d(np.arange(len(a['scores'])), [i for i, _ in pairs])
    lone_b = np.setdiff1d(np.arange(len(b['scores'])), list(used))
    return pairs, lone_a, lone_b


def unexplained(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray],
                lone_a: np.ndarray, lone_b: np.ndarray,
                tie_tol: float) -> int:
    """How many unmatched rows are not a tie: a row of one side is one when
    an unmatched row of the other side scores within ``tie_tol`` of it (the
    NMS or the order kept the other of two near-equal boxes) or when it
    scores within ``tie_tol`` of the other side's lowest score and both
    sides have as many rows (a tie at ``max_per_img``)."""
    count = 0
    for mine, other, lone, other_lone in ((a, b, lone_a, lone_b),
                                          (b, a, lone_b, lone_a)):
        others = np.asarray(other['scores'])
        full = len(others) == len(mine['scores'])
        floor = others.min() if full and len(others) else -np.inf
        for i in lone:
            s = float(mine['scores'][i])
            tie = (np.abs(others[other_lone] - s) <= tie_tol).any() or \
                s <= floor + tie_tol
            count += not tie
    return count
