#!/usr/bin/env python
"""INT8 drop and speed of a model: f32, plain int8 and int8 --max-drop.

    python tools/analysis/measure_int8_drop.py CONFIG CHECKPOINT --work-dir DIR
        [--max-drop 0.01] [--calib 300] [--shape H W] [--threads 2]
        [--seconds 3] [--rounds 3] [--out JSON]

Exports DIR/f32, DIR/int8 and DIR/int8-maxdrop with tools/deploy.py's
``export`` (DIR must be new, empty or hold earlier exports of this tool),
scores each on the config's test set with ``evaluate_ir`` (what
tools/deploy_test.py runs: the deployed path and the config's evaluator, at
the f32 precision hint) and times the network on the first test image
(synchronous requests, one stream, ``--threads`` threads, f32 hint; the
three models alternate for ``--rounds`` rounds of ``--seconds`` each and the
median of all rounds is reported). Prints one line per model: the headline
metric (top-1 / bbox mAP / mIoU as a fraction), its drop from f32, the
latency and its ratio to f32; ``--out`` also writes them as JSON.
"""
import json
import os.path as osp
import sys
import time

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def parse_args(argv=None):
    from mmlcnetv2.cli.args import doc_parser
    parser = doc_parser(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir', required=True, metavar='DIR')
    parser.add_argument('--max-drop', type=float, default=0.01)
    parser.add_argument('--calib', type=int, default=300)
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', help='also write the results as JSON')
    return parser.parse_args(argv)


def latency_ms(inferencer, info, seconds: float) -> list:
    """Timed synchronous runs of the network (ms) for ``seconds``."""
    x, shape = info['input'], [info['img_shape']]
    inferencer.infer_tensor(x, shape)  # warm-up
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t0 = time.perf_counter()
        inferencer.infer_tensor(x, shape)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    from mmlcnetv2.deploy.accuracy_control import headline
    from mmlcnetv2.deploy.tasks import get_task
    from mmlcnetv2.deploy.evaluate import evaluate_ir
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    from mmlcnetv2.cli import bad_input
    ignore_known_upstream_warnings()
    for name in ('config', 'checkpoint'):
        if not osp.isfile(getattr(args, name)):
            return bad_input(f'{name} {getattr(args, name)!r}: no such file')
    variants = dict(f32=dict(precision='f32'),
                    int8=dict(precision='int8'),
                    **{'int8-maxdrop': dict(precision='int8',
                                            max_drop=args.max_drop)})
    rows = {}
    for name, kwargs in variants.items():
        out = osp.join(args.work_dir, name)
        t0 = time.time()
        meta = export(args.config, args.checkpoint, out, shape=args.shape,
                      calib=args.calib, **kwargs)
        rows[name] = dict(dir=out, export_seconds=round(time.time() - t0, 1),
                          calibration=meta.get('calibration'))
        print(f'[measure] exported {out} ({rows[name]["export_seconds"]} s)',
              flush=True)
    cfg = load_config(args.config)
    for name, row in rows.items():
        result = evaluate_ir(row['dir'], cfg, progress=False)
        row['task'] = task = result['task']
        row['metric'] = get_task(task).metric[1]
        row['value'] = headline(result['metrics'], task)
        row['metrics'] = {k: float(v) for k, v in result['metrics'].items()
                          if v is not None}
    ov_config = {'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1,
                 'INFERENCE_NUM_THREADS': args.threads}
    inferencers = {name: OpenVINOInferencer(row['dir'], precision_hint='f32',
                                            ov_config=ov_config)
                   for name, row in rows.items()}
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    image = dataset.get_data_info(0)['img_path']
    times = {name: [] for name in rows}
    for _ in range(args.rounds):  # alternate: load drifts hit all alike
        for name, inferencer in inferencers.items():
            times[name] += latency_ms(inferencer,
                                      inferencer.preprocess(image),
                                      args.seconds)
    f32 = rows['f32']
    for name, row in rows.items():
        row['latency_ms'] = float(np.median(times[name]))
        row['latency_ratio'] = row['latency_ms'] / float(
            np.median(times['f32']))
        row['drop'] = f32['value'] - row['value']
        ac = (row['calibration'] or {}).get('accuracy_control', None)
        float_layers = '' if ac is None else (
            f", {len(ac['float_layers'])} layers float, "
            f"{ac['int8_layers']} int8")
        print(f"{name:13s} {row['metric']} {row['value']:.4f} "
              f"(drop {row['drop']:+.4f})  latency {row['latency_ms']:.2f} ms "
              f"= {row['latency_ratio']:.2f} x f32{float_layers}")
    if args.out:
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           max_drop=args.max_drop, threads=args.threads,
                           rows=rows), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
