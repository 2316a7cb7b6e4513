#!/usr/bin/env python
"""INT8 drop and speed of models: f32, int8 as exported, its alternatives.

    python benchmarks/experiments/measure_int8_drop.py CONFIG CHECKPOINT
        [CONFIG CHECKPOINT ...] --work-dir DIR [--variants V ...]
        [--max-drop 0.01] [--calib 300] [--shape H W] [--threads 2]
        [--seconds 3] [--rounds 3] [--out JSON] [--report MD]

For each CONFIG CHECKPOINT pair, exports with tools/deploy.py's ``export``
into DIR/<config name>/: ``f32``, then the ``--variants`` (default: all):

- ``int8``: ``--precision int8`` as it exports by default (a detector's
  head, decoding and NMS float: the task's ``int8_float_from``);
- ``int8-all``: int8 wherever NNCF quantizes (the head too), default
  (performance) preset: what int8 exported before;
- ``int8-mixed``: the same with NNCF's mixed preset (asymmetric
  activations);
- ``int8-maxdrop``: ``--max-drop`` (minutes: NNCF scores candidates on the
  val set).

``int8-all`` and ``int8-mixed`` only for tasks that keep something float
(detection; elsewhere they are ``int8``). DIR must be new, empty or hold
earlier exports of this tool. Each export is scored on the config's test
set with ``evaluate_ir`` (what tools/deploy_test.py runs: the deployed
path and the config's evaluator, at the f32 precision hint), with its
agreement with f32, and the network is timed on the first test image
(synchronous requests, one stream, ``--threads`` threads, f32 hint; the
models alternate for ``--rounds`` rounds of ``--seconds`` each and the
median of all rounds is reported). Prints one line per export: the
headline metric (top-1 / bbox mAP / mIoU as a fraction), its drop from
f32, the latency and its ratio to f32; ``--out`` writes them as JSON,
``--report`` as a Markdown page with this command and the CPU
(docs/deploy.md, "INT8": ``--report docs/int8.md``).
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
    parser.add_argument('models', nargs='+', metavar='CONFIG CHECKPOINT',
                        help='config and checkpoint, one pair per model')
    parser.add_argument('--work-dir', required=True, metavar='DIR')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS,
                        default=list(VARIANTS), help='int8 exports to make')
    parser.add_argument('--max-drop', type=float, default=0.01)
    parser.add_argument('--calib', type=int, default=300)
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', help='also write the results as JSON')
    parser.add_argument('--report', metavar='MD',
                        help='also write them as a Markdown page')
    return parser.parse_args(argv)


#: The int8 exports: ``export`` keyword arguments (``max_drop`` from
#: ``--max-drop``); ``int8_options`` only where the task keeps modules
#: float.
VARIANTS = {
    'int8': dict(precision='int8'),
    'int8-all': dict(precision='int8', int8_options=dict(keep_float=())),
    'int8-mixed': dict(precision='int8',
                       int8_options=dict(keep_float=(), preset='mixed')),
    'int8-maxdrop': dict(precision='int8', max_drop=None),
}


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


def _variants(args, task) -> dict:
    """Export keyword arguments per int8 export name for ``task``."""
    from mmlcnetv2.deploy.tasks import get_task
    keeps_float = bool(get_task(task).int8_float_from)
    out = {}
    for name in dict.fromkeys(args.variants):
        kwargs = dict(VARIANTS[name])
        if 'int8_options' in kwargs and not keeps_float:
            continue  # the same as 'int8'
        if 'max_drop' in kwargs:
            kwargs['max_drop'] = args.max_drop
        out[name] = kwargs
    return out


def measure_model(args, config: str, checkpoint: str, work_dir: str
                  ) -> dict:
    """Export, score and time the variants of one model; its rows."""
    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    from mmlcnetv2.deploy.exporting.accuracy_control import headline
    from mmlcnetv2.deploy.runtime.evaluate import evaluate_ir
    from mmlcnetv2.deploy.tasks import get_task
    from mmengine.registry import DATASETS
    cfg = load_config(config)
    rows = {}
    todo = dict(f32=dict(precision='f32'))
    while todo:
        name = next(iter(todo))
        kwargs = todo.pop(name)
        out = osp.join(work_dir, name)
        t0 = time.time()
        meta = export(config, checkpoint, out, shape=args.shape,
                      calib=args.calib, **kwargs)
        rows[name] = dict(dir=out, export_seconds=round(time.time() - t0, 1),
                          calibration=meta.get('calibration'))
        print(f'[measure] exported {out} ({rows[name]["export_seconds"]} s)',
              flush=True)
        if name == 'f32':  # the task is known now
            todo = _variants(args, meta['task'])
    for name, row in rows.items():
        result = evaluate_ir(row['dir'], cfg, progress=False,
                             compare_dir=None if name == 'f32' else
                             rows['f32']['dir'])
        row['task'] = task = result['task']
        row['metric'] = get_task(task).metric[1]
        row['value'] = headline(result['metrics'], task)
        row['metrics'] = {k: float(v) for k, v in result['metrics'].items()
                          if v is not None}
        row['images'] = result['images']
        if 'agreement' in result:
            row['agreement'] = float(result['agreement'])
    ov_config = {'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1,
                 'INFERENCE_NUM_THREADS': args.threads}
    inferencers = {name: OpenVINOInferencer(row['dir'], precision_hint='f32',
                                            ov_config=ov_config)
                   for name, row in rows.items()}
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
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    from mmlcnetv2.cli import bad_input
    ignore_known_upstream_warnings()
    if len(args.models) % 2:
        return bad_input(f'models {args.models}: give CONFIG CHECKPOINT '
                         'pairs')
    pairs = list(zip(args.models[0::2], args.models[1::2]))
    for config, checkpoint in pairs:
        for what, path in (('config', config), ('checkpoint', checkpoint)):
            if not osp.isfile(path):
                return bad_input(f'{what} {path!r}: no such file')
    models = {}
    for config, checkpoint in pairs:
        name = osp.splitext(osp.basename(config))[0]
        models[name] = dict(config=config, checkpoint=checkpoint,
                            rows=measure_model(args, config, checkpoint,
                                               osp.join(args.work_dir, name)))
    from mmlcnetv2.utils.atomic import atomic_file
    if args.out:
        with atomic_file(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(dict(max_drop=args.max_drop, threads=args.threads,
                           models=models), f, indent=1)
    if args.report:
        with atomic_file(args.report) as tmp, open(tmp, 'w') as f:
            f.write(report(models, args, argv))
    return 0


def report(models: dict, args, argv=None) -> str:
    """The Markdown page of ``--report``: the command, the machine, one
    table row per export."""
    from mmlcnetv2.utils.machine import machine_info, machine_slug
    argv = sys.argv[1:] if argv is None else argv
    machine = machine_info()
    lines = [
        '# INT8: what it costs per task',
        '',
        '<!-- Generated by benchmarks/experiments/measure_int8_drop.py '
        '--report; do not edit by hand. -->',
        '',
        'Regenerate (the checkpoints: docs/deploy.md, "INT8"):',
        '',
        '```bash',
        'python benchmarks/experiments/measure_int8_drop.py ' + ' '.join(argv),
        '```',
        '',
        f"Machine: {machine['cpu']} (`{machine_slug(machine)}`), "
        f"{machine['physical_cores']} cores, OpenVINO {machine['openvino']}; "
        f"load average at the end {machine['load_average']}. Metrics on "
        'the config\'s test set through the deployed path at the f32 hint; '
        '"agrees" is `tools/deploy_test.py --compare-to` against f32 '
        '(classification: same top-1; detection: boxes >= 0.3 matched, '
        'same class, IoU >= 0.5; segmentation: pixels of the same class). '
        f'Latency: median, {args.threads} threads, one stream, '
        f'{args.rounds} alternating rounds; calibration {args.calib} train '
        'images.',
        '',
        '| model (config, checkpoint) | export | metric | value | drop vs '
        'f32 | agrees with f32 | latency | vs f32 |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ]
    for name, model in models.items():
        for variant, row in model['rows'].items():
            agree = row.get('agreement', None)
            lines.append(
                f"| {name} (`{osp.basename(model['checkpoint'])}`) | "
                f"{variant} | {row['metric']} | {row['value']:.4f} | "
                f"{row['drop']:+.4f} | "
                f"{'-' if agree is None else f'{agree:.4f}'} | "
                f"{row['latency_ms']:.2f} ms | {row['latency_ratio']:.2f} |")
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
