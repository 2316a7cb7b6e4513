#!/usr/bin/env python
"""What does preprocessing cost end to end? Float-input vs uint8-input IR.

    OMP_NUM_THREADS=1 python benchmarks/experiments/measure_preprocess.py \
        [--checkpoint CKPT] [--threads 1 2] [--precisions f32 bf16] \
        [--repeat 300] [--json out.json]

Exports the fused PP-LCNetV2-base classifier twice (``--checkpoint``, or
random weights: latency does not depend on them), with ``--input float``
(the host normalizes, as before issue 15) and with the default ``uint8``
input (colour order, mean/std and layout in the IR), into a temporary
folder deleted at the end. For scikit-learn's ``china.jpg`` (427x640) as a
decoded BGR array, for each precision hint (``bf16`` only where the CPU has
BF16; it is skipped, and says so, elsewhere) and each thread count, it
reports the median of:

* ``network``: the compiled model alone on the prepared input (one infer
  request, ``infer`` on what :meth:`OpenVINOInferencer.preprocess` gives);
* ``preprocess``: :meth:`OpenVINOInferencer.preprocess` (resize, crop and,
  for the float form, normalize and transpose on the host);
* ``end to end``: ``inferencer(array)``, results included;

and ``end to end / network`` (issue 15's goal: <= 1.15). The forms are
measured interleaved, round by round, so a change in machine load hits
both alike. Numbers depend on load; docs/deploy.md has the ones it quotes.
"""
import argparse
import json
import os.path as osp
import platform
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_CONFIG = 'configs/cls/pplcnetv2-base_8xb256_in1k.py'
CLS_DEPLOY = 'configs/cls/deploy/pplcnetv2-base_deploy_8xb256_in1k.py'
FORMS = ('float', 'uint8')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--checkpoint', help='unfused base checkpoint (default: '
                   'random weights)')
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--precisions', nargs='+', default=['f32', 'bf16'],
                   choices=['f32', 'bf16'],
                   help='OpenVINO INFERENCE_PRECISION_HINT per row')
    p.add_argument('--repeat', type=int, default=300,
                   help='timed calls per measurement')
    p.add_argument('--rounds', type=int, default=3,
                   help='interleaved rounds; the median over all is kept')
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def export_both(folder: str, checkpoint=None) -> dict:
    """The two input forms of one fused base classifier: form -> folder."""
    import torch
    from mmlcnetv2.apis import build_model, load_config
    from mmlcnetv2.deploy import export
    if checkpoint is None:
        torch.manual_seed(0)
        model = build_model(load_config(osp.join(ROOT, CLS_CONFIG)))
        checkpoint = osp.join(folder, 'random.pth')
        torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out = {}
    for form in FORMS:
        out[form] = osp.join(folder, form)
        export(osp.join(ROOT, CLS_DEPLOY), checkpoint, out[form],
               input_form=form)
    return out


def timed(fn, repeat: int) -> list:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def median(values: list) -> float:
    return sorted(values)[len(values) // 2]


def measure(dirs: dict, threads: int, repeat: int, rounds: int,
            precision: str = 'f32') -> dict:
    """form -> {network, preprocess, end_to_end (ms), ratio}."""
    import numpy as np
    from sklearn.datasets import load_sample_image
    from mmlcnetv2.deploy import OpenVINOInferencer
    img = np.ascontiguousarray(load_sample_image('china.jpg')[:, :, ::-1])
    runs = {}
    for form, folder in dirs.items():
        inferencer = OpenVINOInferencer(
            folder, precision_hint=precision,
            ov_config={'INFERENCE_NUM_THREADS': threads})
        info = inferencer.preprocess(img)
        request = inferencer.compiled.create_infer_request()
        x = info['input']
        runs[form] = dict(
            network=lambda r=request, x=x: r.infer({0: x}),
            preprocess=lambda i=inferencer: i.preprocess(img),
            end_to_end=lambda i=inferencer: i(img))
    times = {form: {k: [] for k in fns} for form, fns in runs.items()}
    for _ in range(rounds):
        for form, fns in runs.items():
            for key, fn in fns.items():
                times[form][key] += timed(fn, repeat)
    out = {}
    for form, by_key in times.items():
        row = {k: round(median(v), 3) for k, v in by_key.items()}
        row['ratio'] = round(row['end_to_end'] / row['network'], 3)
        out[form] = row
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.cli import bad_input
    if args.checkpoint and not osp.isfile(args.checkpoint):
        return bad_input(f'--checkpoint {args.checkpoint!r}: no such file')
    if min(args.threads) < 1 or args.repeat < 1 or args.rounds < 1:
        return bad_input('--threads, --repeat and --rounds must be >= 1, '
                         f'got {args.threads}, {args.repeat}, {args.rounds}')
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    ignore_known_upstream_warnings()
    results = dict(machine=platform.processor() or platform.machine(),
                   image='sklearn china.jpg 427x640, decoded BGR array',
                   rows=[], skipped=[])
    precisions = list(args.precisions)
    from mmlcnetv2.utils.machine import cpu_capabilities
    if 'bf16' in precisions and 'BF16' not in cpu_capabilities():
        precisions.remove('bf16')
        results['skipped'].append('bf16: this CPU has no BF16')
        print('bf16: skipped (this CPU has no BF16)')
        if not precisions:
            return bad_input('--precisions bf16: this CPU has no BF16; '
                             'allowed here: f32')
    with tempfile.TemporaryDirectory() as folder:
        dirs = export_both(folder, args.checkpoint)
        print(f'{"prec":>4} {"threads":>7} {"input":>6} {"network":>9} '
              f'{"preprocess":>10} {"end to end":>10} {"e2e/net":>7}')
        for precision in precisions:
            for threads in args.threads:
                rows = measure(dirs, threads, args.repeat, args.rounds,
                               precision)
                for form, row in rows.items():
                    results['rows'].append(dict(
                        precision_hint=precision, threads=threads,
                        input=form, **row))
                    print(f'{precision:>4} {threads:>7} {form:>6} '
                          f'{row["network"]:>7.2f}ms '
                          f'{row["preprocess"]:>8.2f}ms '
                          f'{row["end_to_end"]:>8.2f}ms '
                          f'{row["ratio"]:>7.2f}')
    if args.json:
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
