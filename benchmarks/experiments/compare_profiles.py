#!/usr/bin/env python
"""Where does the time of two benchmark models differ? Per-layer profiles.

    python benchmarks/experiments/compare_profiles.py lcnetv2-base-fused \
        paddle-pplcnetv2-base --precision f32 --instances 3 --iters 300

Each model (a ``tools/benchmark.py --list`` name) is compiled
``--instances`` times with ``PERF_COUNT`` on (``PERFORMANCE_HINT=LATENCY``,
one stream, fixed threads, as the benchmark). The instances run interleaved,
a few iterations at a time, so machine noise hits all alike. Printed: each
instance's median latency; the per-layer-type time (OpenVINO's
``get_profiling_info`` real time, summed per ``node_type`` and kernel) of
each model, as the median over instances with the spread between instances
of the *same* model. A difference between the two models that is smaller
than that spread is noise, not a cause.
"""
import argparse
import os.path as osp
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('models', nargs=2, metavar='MODEL')
    p.add_argument('--precision', choices=('f32', 'bf16'), default='f32')
    p.add_argument('--instances', type=int, default=3)
    p.add_argument('--iters', type=int, default=300,
                   help='timed inferences per instance')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--size', type=int, default=224)
    args = p.parse_args(argv)
    if min(args.instances, args.iters, args.threads, args.size) < 1:
        p.error('--instances, --iters, --threads and --size must be >= 1')
    return args


def layer_times(request) -> dict:
    """``(node_type, exec_type) -> µs`` of the last inference."""
    out = defaultdict(float)
    for info in request.profiling_info:
        if info.status.name == 'EXECUTED':
            out[(info.node_type, info.exec_type)] += \
                info.real_time.total_seconds() * 1e6
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()
    import tempfile

    import openvino as ov

    from benchmarks import get_entries
    from benchmarks.runner import entry_graphs
    from benchmarks.timing import PRECISION_HINTS
    from mmlcnetv2.cli import bad_input
    try:
        entries = get_entries(args.models)
    except ValueError as e:  # an unknown model name (lists the known)
        return bad_input(e)
    core = ov.Core()
    x = np.random.default_rng(0).standard_normal(
        (1, 3, args.size, args.size)).astype(np.float32)
    runs = []  # (model, instance, request)
    with tempfile.TemporaryDirectory() as work:
        for entry in entries:
            model = entry_graphs(entry, (args.size, args.size), work).f32
            for i in range(args.instances):
                c = core.compile_model(model, 'CPU', {
                    'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1,
                    'INFERENCE_NUM_THREADS': args.threads,
                    'INFERENCE_PRECISION_HINT':
                    PRECISION_HINTS[args.precision],
                    'PERF_COUNT': True})
                runs.append((entry.name, i, c.create_infer_request(), c))
    times = {(m, i): [] for m, i, _, _ in runs}
    layers = {(m, i): defaultdict(list) for m, i, _, _ in runs}
    for _, _, request, _ in runs:
        request.infer({0: x})  # warm-up
    chunk = 10
    for start in range(0, args.iters, chunk):
        for m, i, request, _ in runs:
            for _ in range(min(chunk, args.iters - start)):
                t0 = time.perf_counter()
                request.infer({0: x})
                times[(m, i)].append((time.perf_counter() - t0) * 1e3)
                for k, v in layer_times(request).items():
                    layers[(m, i)][k].append(v)
    print(f'{args.precision}, {args.threads} threads, {args.iters} '
          f'inferences per instance, interleaved\n')
    for m in args.models:
        med = [np.median(times[(m, i)]) for i in range(args.instances)]
        print(f'{m:32s} median ms per instance: '
              + ', '.join(f'{v:.3f}' for v in med)
              + f'  (spread {max(med) / min(med) - 1:.1%})')
    a, b = (np.median([np.median(times[(m, i)])
                       for i in range(args.instances)])
            for m in args.models)
    print(f'\nratio {args.models[0]} / {args.models[1]}: {a / b:.3f}\n')
    keys = sorted({k for d in layers.values() for k in d})
    print(f"{'layer type':22s} {'kernel':34s} "
          + ''.join(f'{m[:24]:>26s}' for m in args.models))
    for k in keys:
        cells = []
        for m in args.models:
            per = [np.median(layers[(m, i)][k]) if layers[(m, i)].get(k)
                   else 0.0 for i in range(args.instances)]
            cells.append(f'{np.median(per):9.1f} [{min(per):6.1f},'
                         f'{max(per):6.1f}]')
        print(f'{k[0][:22]:22s} {k[1][:34]:34s} '
              + ''.join(f'{c:>26s}' for c in cells))
    print('\nµs per inference: median over instances [min, max over '
          'instances]')
    return 0


if __name__ == '__main__':
    sys.exit(main())
