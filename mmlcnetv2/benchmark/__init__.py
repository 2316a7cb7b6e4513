# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""CPU latency/throughput benchmark (``tools/benchmark.py``): the model zoo
(:mod:`.zoo`), timing (:mod:`.timing`), machine info (:mod:`.machine`),
statistics/report/plot (:mod:`.report`) and the run (:mod:`.runner`).

The names below are imported on first use, so ``tools/benchmark.py --help``
does not pay for torch and OpenVINO.
"""
import importlib

from ..names import BENCHMARK_PRECISIONS

#: The precisions a row can be run at (torch-free, for argparse).
PRECISIONS = BENCHMARK_PRECISIONS

_LAZY = dict(GOALS='report', goal_ratios='report', plot='report',
             to_index='report', to_markdown='report',
             run_benchmark='runner', ENTRIES='zoo', get_entries='zoo')

__all__ = ['PRECISIONS', *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__),
                       name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
