# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The CPU latency benchmark (``tools/benchmark.py``, or ``mmlcnetv2
benchmark`` from the checkout's root) and the experiments behind the docs'
measured numbers (``experiments/``): research, kept in the
checkout and not installed with the package.

- :mod:`.zoo`: the models the benchmark knows (name -> how to build it);
  our rows are the IR that :func:`mmlcnetv2.deploy.export` writes, the
  code ``tools/deploy.py`` runs;
- :mod:`.anchors`: the models a user would pick instead (timm,
  ultralytics, PaddleClas, mmdet's RTMDet), their published accuracies;
- :mod:`.timing`, :mod:`.runner`: compile, time in interleaved rounds;
- :mod:`.end_to_end`: image file -> results rows;
- :mod:`.report`: statistics, markdown, plots; the goal ratios are data,
  ``goals.json`` beside this file, cited by every report;
- :mod:`.cli`: the command line;
- ``experiments/``: the scripts behind measured numbers in the docs
  (``measure_*.py``, ``compare_profiles.py``, ``count_denormals.py``).

It builds our models from their ``mmlcnetv2::`` config names, which the
installed package resolves. The names below are imported on first use, so
``tools/benchmark.py --help`` does not pay for torch and OpenVINO.
"""
import importlib

from mmlcnetv2.names import BENCHMARK_PRECISIONS

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
