#!/usr/bin/env python
"""Does OpenVINO's ``CPU_DENORMALS_OPTIMIZATION`` help our IRs on this CPU?

    python benchmarks/experiments/measure_ov_denormals.py \
        EXPORT_DIR [EXPORT_DIR ...] \
        [--image IMG] [--threads 2] [--rounds 7] [--iters 40] [--json out.json]

For each export folder (``tools/deploy.py``'s output; use IRs of *trained*
models: denormals depend on the weights and the activations they give),
compiles the IR twice with ``INFERENCE_PRECISION_HINT=f32`` — denormals
optimization on (flush-to-zero, denormals-are-zero) and off — each on a
thread of its own (the plugin sets the flags of the thread that builds the
graph, and a synchronous ``infer`` computes on the calling thread: on one
thread, the setting compiled last would hold for both), checks with a probe
that each thread really flushes or keeps, and times ``--iters`` synchronous
inferences on one prepared image (``--image``, default scikit-learn's
``china.jpg``), on and off interleaved over ``--rounds`` rounds (the order
alternating) so machine load hits both alike.
Prints the median latency of each, the median of the per-round on/off
ratios with its range, and whether the outputs are identical. Intel cores
take a microcode assist per denormal operand, AMD cores barely: measure on
the CPU you deploy on before turning it on (``OpenVINOInferencer(...,
ov_config={'CPU_DENORMALS_OPTIMIZATION': True})``).
"""
import argparse
import json
import os.path as osp
import sys
import time
from statistics import median

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('export_dirs', nargs='+', metavar='EXPORT_DIR')
    p.add_argument('--image', help='default: scikit-learn china.jpg')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--rounds', type=int, default=7)
    p.add_argument('--iters', type=int, default=40,
                   help='timed inferences per round and setting')
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def _flushes(core, on: bool) -> bool:
    """Whether this thread now flushes denormals in OpenVINO (a probe
    multiplying 1e-30 by 1e-9, compiled with the same setting)."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops
    x = ops.parameter([1, 16], np.float32)
    probe = ov.Model([ops.multiply(x, ops.constant(
        np.full([1, 16], 1e-9, np.float32)))], [x])
    compiled = core.compile_model(probe, 'CPU', {
        'CPU_DENORMALS_OPTIMIZATION': on, 'INFERENCE_PRECISION_HINT': 'f32'})
    out = compiled.create_infer_request().infer(
        {0: np.full([1, 16], 1e-30, np.float32)})[0]
    return not np.any(out)


def measure(folder: str, image, threads: int, rounds: int,
            iters: int) -> dict:
    """on/off latency of one export, each setting on its own thread.

    Why threads: the CPU plugin applies the setting to the floating-point
    flags of the thread that builds the graph, and a synchronous ``infer``
    runs on the calling thread; two models compiled and run on one thread
    both get whichever setting was compiled last (checked with the probe
    of :func:`_flushes`). So each setting compiles, is probed and runs on a
    thread of its own.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from mmlcnetv2.deploy import OpenVINOInferencer
    pools = {on: ThreadPoolExecutor(1) for on in (True, False)}

    def setup(on: bool):
        inferencer = OpenVINOInferencer(
            folder, precision_hint='f32',
            ov_config={'CPU_DENORMALS_OPTIMIZATION': on,
                       'INFERENCE_NUM_THREADS': threads})
        info = inferencer.preprocess(image)
        inputs = inferencer.ir_inputs(info['input'], [info['img_shape']])
        request = inferencer.compiled.create_infer_request()
        flushes = _flushes(inferencer.core, on)
        outputs = [np.copy(t) for t in request.infer(inputs).values()]
        return request, inputs, flushes, outputs

    def timed(request, inputs) -> float:
        t = time.perf_counter()
        for _ in range(iters):
            request.infer(inputs)
        return (time.perf_counter() - t) * 1e3 / iters

    runs = {on: pools[on].submit(setup, on).result() for on in pools}
    for on, run in runs.items():
        if run[2] != on:
            raise RuntimeError(f'CPU_DENORMALS_OPTIMIZATION={on} did not '
                               'take effect on its thread')
    same = all(np.array_equal(a, b)
               for a, b in zip(runs[True][3], runs[False][3]))
    times = {True: [], False: []}
    for r in range(rounds):
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            request, inputs = runs[on][:2]
            times[on].append(pools[on].submit(timed, request, inputs)
                             .result())
    for pool in pools.values():
        pool.shutdown()
    ratios = [a / b for a, b in zip(times[True], times[False])]
    return dict(on_ms=round(median(times[True]), 3),
                off_ms=round(median(times[False]), 3),
                ratio_on_off=round(median(ratios), 3),
                ratio_range=[round(min(ratios), 3), round(max(ratios), 3)],
                outputs_identical=same)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.cli import bad_input
    for folder in args.export_dirs:
        if not osp.isfile(osp.join(folder, 'deploy.json')):
            return bad_input(f'{folder!r}: not an export folder (no '
                             'deploy.json); make one with tools/deploy.py')
    if args.image and not osp.isfile(args.image):
        return bad_input(f'--image {args.image!r}: no such file')
    if min(args.threads, args.rounds, args.iters) < 1:
        return bad_input('--threads, --rounds and --iters must be >= 1')
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    ignore_known_upstream_warnings()
    from mmlcnetv2.utils.machine import machine_info
    if args.image:
        image = args.image
    else:
        import numpy as np
        from sklearn.datasets import load_sample_image
        image = np.ascontiguousarray(load_sample_image('china.jpg')[..., ::-1])
    rows = {}
    for folder in args.export_dirs:
        row = measure(folder, image, args.threads, args.rounds, args.iters)
        rows[folder] = row
        print(f'{folder}: on {row["on_ms"]:.3f} ms, off {row["off_ms"]:.3f} '
              f'ms, on/off {row["ratio_on_off"]:.3f} '
              f'{row["ratio_range"]}, outputs identical: '
              f'{row["outputs_identical"]}', flush=True)
    if args.json:
        machine = machine_info()
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(dict(machine=dict(cpu=machine['cpu'],
                                        isa=machine['isa'],
                                        load_average=machine['load_average']),
                           threads=args.threads, rows=rows), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
