# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""CPU latency/throughput benchmark (``tools/benchmark.py``): the model zoo
(:mod:`.zoo`), timing (:mod:`.timing`), machine info (:mod:`.machine`),
statistics/report/plot (:mod:`.report`) and the run (:mod:`.runner`)."""
from .report import GOALS, goal_ratios, plot, to_index, to_markdown
from .runner import PRECISIONS, run_benchmark
from .zoo import ENTRIES, get_entries

__all__ = ['ENTRIES', 'get_entries', 'GOALS', 'goal_ratios', 'plot',
           'to_index', 'to_markdown', 'PRECISIONS', 'run_benchmark']
