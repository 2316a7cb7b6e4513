# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""A linear warm-up that reaches the full learning rate on any dataset
size."""
from mmengine.optim.scheduler import LinearLR
from mmengine.optim.scheduler.param_scheduler import INF
from mmengine.registry import PARAM_SCHEDULERS

#: Iterations a warm-up converted from epochs lasts at least: the first at
#: ``start_factor``, the last at ``end_factor``.
MIN_WARMUP_ITERS = 2


@PARAM_SCHEDULERS.register_module()
class LinearWarmupLR(LinearLR):
    """mmengine's ``LinearLR``, whose warm-up converted from epochs
    (``convert_to_iter_based=True``) lasts at least
    :data:`MIN_WARMUP_ITERS` iterations.

    ``LinearLR`` reaches ``end_factor`` at its last iteration, except when
    it has only one: one warm-up epoch of one iteration (fine-tuning on a
    small folder) stays at ``start_factor``, and a scheduler that follows
    it (cosine, recursively) starts from there, so the peak learning rate
    would be ``start_factor`` times the configured one. Here that warm-up
    takes two iterations, the second being the first of the scheduler that
    follows (this one steps first, being listed first): that scheduler
    starts from the full learning rate.

    Example:
        >>> param_scheduler = [
        ...     dict(type='LinearWarmupLR', start_factor=0.1, by_epoch=True,
        ...          begin=0, end=1, convert_to_iter_based=True),
        ...     dict(type='CosineAnnealingLR', T_max=19, by_epoch=True,
        ...          begin=1, end=20, convert_to_iter_based=True)]
    """

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=INF, by_epoch=True,
                              epoch_length=None, **kwargs):
        """As ``LinearLR``'s (epochs times ``epoch_length``), then at least
        :data:`MIN_WARMUP_ITERS` iterations long."""
        if not by_epoch or not epoch_length or epoch_length <= 0:
            raise ValueError('LinearWarmupLR: convert_to_iter_based needs '
                             f'by_epoch=True and an epoch length, got '
                             f'by_epoch={by_epoch}, epoch_length='
                             f'{epoch_length}')
        begin = int(begin * epoch_length)
        if end != INF:
            end = max(int(end * epoch_length), begin + MIN_WARMUP_ITERS)
        return cls(*args, begin=begin, end=end, by_epoch=False, **kwargs)
