# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""CPU latency of our PP-LCNetV2 exports against PaddleClas's own models and
the usual detectors, with OpenVINO (and torch eager), in one command.

    python tools/benchmark.py --threads 2 --rounds 9 --max-rounds 25 \
        --save docs/benchmarks
    python tools/benchmark.py --index docs/benchmarks.md   # rebuild the index
    python tools/benchmark.py --list
    python tools/benchmark.py --models lcnetv2-base-fused \
        paddle-pplcnetv2-base --precisions f32 int8
    python tools/benchmark.py --models lcnetv2-base-fused-e2e-array \
        lcnetv2-base-fused-e2e-network --precisions f32  # end to end
    python tools/benchmark.py --models picodet-small-320 yolo11n-320 \
        rtmdet-tiny-320 --tradeoff t.png  # against the anchors
    python tools/benchmark.py --models picodet-small-320 \
        picodet-small-320-nms-c1000 yolo11n-320 yolo11n-320-nms-c1000 \
        --precisions f32  # like for like: 1,000 candidates into each NMS
"""
import argparse
import json
import os
import os.path as osp
import shlex
import sys
import time


def parse_args(argv=None):
    from benchmarks import PRECISIONS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--models', nargs='+', metavar='NAME',
                   help='models to run (default: all; see --list)')
    p.add_argument('--list', action='store_true',
                   help='print the known model names and exit')
    p.add_argument('--precisions', nargs='+', default=list(PRECISIONS),
                   choices=PRECISIONS, help='default: all (bf16 is skipped '
                   'with a note on CPUs without it; int8 only for our fused '
                   'classifiers)')
    p.add_argument('--threads', type=int, default=2,
                   help='INFERENCE_NUM_THREADS and torch threads')
    p.add_argument('--rounds', type=int, default=5,
                   help='rounds; every model runs once per round')
    p.add_argument('--max-rounds', type=int, metavar='N',
                   help='after --rounds, add latency rounds (all rows, one '
                   'at a time) while a reported ratio\'s IQR over rounds '
                   'reaches beyond ±5 %%, up to N rounds in all (default: '
                   '--rounds, no extra rounds); the ratios still noisy '
                   'then are flagged in the report')
    p.add_argument('--iters', type=int, default=20,
                   help='max timed iterations per model per round')
    p.add_argument('--round-time', type=float, default=1.0,
                   help='seconds per model per round after which a model '
                   'stops early (at least 3 iterations)')
    p.add_argument('--tput-time', type=float, default=1.0,
                   help='seconds of async throughput per model')
    p.add_argument('--cls-size', type=int, default=224,
                   help='classification input size')
    p.add_argument('--no-torch', action='store_true',
                   help='skip the torch eager timing')
    p.add_argument('--json', metavar='OUT', help='write the results as JSON')
    p.add_argument('--md', metavar='OUT', help='write a markdown report')
    p.add_argument('--plot', metavar='OUT.png', help='write a latency plot')
    p.add_argument('--tradeoff', metavar='OUT.png',
                   help='write the latency vs published-accuracy plot')
    p.add_argument('--save', metavar='DIR',
                   help="write DIR/<machine>.json|md|png and "
                   "DIR/<machine>-tradeoff.png, <machine> from the CPU model "
                   "and ISA class (e.g. amd-epyc_avx2; another machine's "
                   "files are never touched), then rebuild the index DIR.md "
                   'from every DIR/*.json')
    p.add_argument('--index', metavar='FILE.md',
                   help='the index to rebuild (default with --save: DIR.md); '
                   'alone, rebuild it from the JSON files beside it and exit')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    if args.index and not args.index.endswith('.md'):
        p.error(f'--index must name a .md file, got {args.index!r}')
    if args.max_rounds is not None and args.max_rounds < args.rounds:
        p.error(f'--max-rounds {args.max_rounds}: must be at least --rounds '
                f'({args.rounds})')
    if args.save and not args.index:
        args.index = args.save.rstrip('/') + '.md'
    return args


def write_index(index: str, results_dir: str) -> int:
    """Rebuild ``index`` from every machine's JSON in ``results_dir``."""
    from benchmarks import to_index
    from benchmarks.report import load_result, write_atomic
    results = {}
    for name in sorted(os.listdir(results_dir)):
        if name.endswith('.json'):
            results[name[:-len('.json')]] = load_result(
                osp.join(results_dir, name))
    if not results:
        from mmlcnetv2.cli import bad_input
        return bad_input(f'no machine results (*.json) in {results_dir}')
    write_atomic(to_index(results), index)
    print(f'index of {len(results)} machine(s): {index}')
    return 0


def print_summary(result: dict) -> None:
    from benchmarks.report import machine_line, noisy, verdict
    print(f"\nMachine: {machine_line(result['machine'])}")
    print(f"{'row':48s} {'used':>20s} {'median':>9s} {'p90':>9s} "
          f"{'img/s':>8s} {'torch':>9s}")
    for key, row in result['rows'].items():
        if 'skipped' in row:
            print(f"{key:48s} skipped: {row['skipped']}")
            continue
        lat = row['latency']
        tput = row.get('throughput', {}).get('fps')
        tor = row.get('torch', {}).get('median_ms')
        print(f"{key:48s} {row['used_precision']:>20s} "
              f"{lat['median_ms']:8.2f}ms {lat['p90_ms']:8.2f}ms "
              f"{'–' if tput is None else f'{tput:.1f}':>8s} "
              f"{'–' if tor is None else f'{tor:.2f}ms':>9s}")
    print('\nRatios (median of per-round ratios [min, max]):')
    for g in result['ratios']:
        name = f"{g['numerator']} / {g['denominator']}"
        if 'missing' in g:
            print(f"  {name}: not measured ({', '.join(g['missing'])})")
            continue
        goal = '' if g['goal'] is None else \
            f"  goal: {verdict(g['median'], g['goal'], g.get('parity'))}"
        print(f"  {name}: {g['median']:.3f} [{g['min']:.3f}, "
              f"{g['max']:.3f}] IQR ±{g['iqr_pct']:.1f} %"
              f"{' (noisy)' if noisy(g) else ''}{goal}")
    anchors = [g for g in result.get('anchor_ratios', [])
               if 'missing' not in g]
    if anchors:
        print('\nOurs / anchors (median of per-round ratios [min, max]):')
    for g in anchors:
        print(f"  {g['numerator']} / {g['denominator']}: {g['median']:.3f} "
              f"[{g['min']:.3f}, {g['max']:.3f}] IQR ±{g['iqr_pct']:.1f} %"
              f"{' (noisy)' if noisy(g) else ''}")
    for n in result['notes']:
        print(f'Note: {n}')


def write_tradeoff(result: dict, path: str) -> None:
    """The latency vs published-accuracy plot, or a line saying why
    there is none (no measured row has a published accuracy)."""
    from benchmarks import plot_tradeoff
    try:
        plot_tradeoff(result, path)
    except ValueError as e:
        print(f'no trade-off plot: {e}')


def main(argv=None):
    # for the processes it starts (paddle2onnx's), as for itself
    os.environ.setdefault('PYTHONWARNINGS',
                          'ignore:pkg_resources is deprecated')
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.cli import bad_input
    if args.list:
        from benchmarks import ENTRIES
        for name, entry in ENTRIES.items():
            print(f'{name:34s} {entry.task:14s} {entry.description}')
        return 0
    results_dir = args.save or (args.index and args.index[:-len('.md')])
    if args.index and not args.save:
        if not osp.isdir(results_dir):
            return bad_input(f'--index {args.index}: no results folder '
                             f'{results_dir}')
        return write_index(args.index, results_dir)
    try:
        from benchmarks import get_entries
        get_entries(args.models)
    except ValueError as e:  # an unknown --models name (lists the known)
        return bad_input(e)
    # torch and OpenVINO only now: --index alone needs neither
    from benchmarks import plot, run_benchmark, to_markdown
    from benchmarks.report import write_atomic
    result = run_benchmark(
        args.models, args.precisions, threads=args.threads,
        rounds=args.rounds, max_rounds=args.max_rounds, iters=args.iters,
        round_time=args.round_time,
        tput_time=args.tput_time, cls_size=args.cls_size,
        torch_eager=not args.no_torch, progress=not args.no_progress)
    argv = sys.argv[1:] if argv is None else list(argv)
    result['command'] = 'python tools/benchmark.py ' + ' '.join(
        shlex.quote(a) for a in argv)
    result['date'] = time.strftime('%Y-%m-%d')
    print_summary(result)
    if args.json:
        write_atomic(json.dumps(result, indent=2) + '\n', args.json)
    if args.md:
        write_atomic(to_markdown(result), args.md)
    if args.plot:
        plot(result, args.plot)
    if args.tradeoff:
        write_tradeoff(result, args.tradeoff)
    if args.save:
        from mmlcnetv2.utils.machine import machine_slug
        os.makedirs(args.save, exist_ok=True)
        base = osp.join(args.save, machine_slug(result['machine']))
        write_atomic(json.dumps(result, indent=2) + '\n', base + '.json')
        write_atomic(to_markdown(result), base + '.md')
        plot(result, base + '.png')
        write_tradeoff(result, base + '-tradeoff.png')
        print(f'results of this machine: {base}.json|md|png, '
              f'{base}-tradeoff.png')
        return write_index(args.index, args.save)
    return 0

