# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""CPU latency/throughput benchmark (``tools/benchmark.py``): the model zoo
(:mod:`.zoo`), timing (:mod:`.timing`), machine info (:mod:`.machine`),
statistics/report/plot (:mod:`.report`) and the run (:mod:`.runner`);
and the demo's results per machine class (:mod:`.demo_results`).

Why it is part of the package and not of ``tools/``: it builds its models
from our configs the way a user's code does, by the ``mmlcnetv2::`` names
that the installed package resolves (its configs root, ``mmlcnetv2/.mim`` or
the checkout's ``configs/``), so it needs no repository path and runs from an
installed package too; and it sits beside :mod:`mmlcnetv2.deploy`, whose
wrappers it times, in the layer below the tools. Two tools
(``tools/benchmark.py``, ``tools/analysis/compare_profiles.py``) and the tests
import it as a package, which a folder of scripts under ``tools/`` would only
allow through ``sys.path`` edits. What is ours alone, the goal ratios, is
data: ``goals.json`` beside this file, read by :func:`.report.load_goals` and
cited by every report.

The names below are imported on first use, so ``tools/benchmark.py --help``
does not pay for torch and OpenVINO.
"""
import importlib

from ..names import BENCHMARK_PRECISIONS

#: The precisions a row can be run at (torch-free, for argparse).
PRECISIONS = BENCHMARK_PRECISIONS

_LAZY = dict(GOALS='report', goal_ratios='report', load_goals='report',
             load_result='report', plot='report', plot_tradeoff='report',
             to_index='report', to_markdown='report',
             run_benchmark='runner', ENTRIES='zoo', get_entries='zoo')

__all__ = ['PRECISIONS', *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__),
                       name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
