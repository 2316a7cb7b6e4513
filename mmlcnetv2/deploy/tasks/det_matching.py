# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Two sets of detections of one image matched one to one.

The export's conversion check (IR against torch on the example input) and
the upstream parity tests (IR against mmdet's inferencer) compare rows,
not positions: near-equal scores may come out in another order, and an
NMS between two near-equal scores may keep either box, and then suppress
other boxes below it (:func:`unexplained`).

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
                tie_tol: float, iou_thr: float = 0.0) -> int:
    """How many unmatched rows are not explained by a tie.

    Two exports of one detector may break ties between equal scores
    (within float tolerance) differently: the NMS keeps another member of
    a tied group, ``nms_pre`` or ``max_per_img`` cut between equal scores.
    An unmatched row of one side is explained when:

    - an unmatched row of the other side scores within ``tie_tol`` of it
      (the other side kept the other of two near-equal scores);
    - it scores within ``tie_tol`` of the other side's lowest score and
      both sides have as many rows (a tie at ``max_per_img``);
    - an unmatched row of the other side, of the same class, overlapping it
      by IoU > ``iou_thr`` and scoring at least as high (within
      ``tie_tol``), would have suppressed it in that side's NMS: the
      consequence of a tie further up (one side kept A of the tied A and
      B, A suppressed C, the other side kept B and C). The suppressor must
      be unmatched itself: a row both sides kept suppresses in both, so
      an NMS that failed to suppress is still caught.

    Args:
        a, b: ``bboxes [N, 4]``, ``scores [N]``, ``labels [N]``.
        lone_a, lone_b: :func:`match_detections`'s unmatched rows.
        tie_tol (float): Scores this close are equal.
        iou_thr (float): The NMS's IoU threshold, where known; the default
            0 (any overlap) is below every threshold, so it never refuses
            a valid NMS outcome.

    Example:
        >>> # a kept A of the tied A and B, and A suppressed C; b kept B, C
        >>> A, B, C = [0., 0, 10, 10], [-4., 0, 6, 10], [5., 0, 15, 10]
        >>> a = dict(bboxes=np.array([A]), scores=np.array([1.0]),
        ...          labels=np.array([0]))
        >>> b = dict(bboxes=np.array([B, C]), scores=np.array([1.0, 0.8]),
        ...          labels=np.array([0, 0]))
        >>> unexplained(a, b, np.array([0]), np.array([0, 1]), 1e-3)
        0
        >>> b['labels'][1] = 1  # nothing of class 1 could suppress C
        >>> unexplained(a, b, np.array([0]), np.array([0, 1]), 1e-3)
        1
    """
    from torchvision.ops import box_iou
    lone_a, lone_b = (np.asarray(lone, np.int64) for lone in (lone_a,
                                                                lone_b))
    count = 0
    for mine, other, lone, other_lone in ((a, b, lone_a, lone_b),
                                          (b, a, lone_b, lone_a)):
        others = np.asarray(other['scores'])
        full = len(others) == len(mine['scores'])
        floor = others.min() if full and len(others) else -np.inf
        # Unmatched rows of the other side that suppress each lone row.
        overlap = np.zeros((len(lone), len(other_lone)), bool)
        if len(lone) and len(other_lone):
            overlap = box_iou(
                torch.from_numpy(np.asarray(mine['bboxes'],
                                            np.float32)[lone]),
                torch.from_numpy(np.asarray(other['bboxes'],
                                            np.float32)[other_lone])
            ).numpy() > iou_thr
            overlap &= np.asarray(mine['labels'])[lone][:, None] == \
                np.asarray(other['labels'])[other_lone][None]
        for k, i in enumerate(lone):
            s = float(mine['scores'][i])
            tie = (np.abs(others[other_lone] - s) <= tie_tol).any() or \
                s <= floor + tie_tol
            suppressed = (overlap[k] &
                          (others[other_lone] >= s - tie_tol)).any()
            count += not (tie or suppressed)
    return count
