#!/usr/bin/env python
"""INT8 drop and speed of models: f32, int8 as exported, its alternatives.

    # the three demo tasks, trained by the README's commands (or resumed /
    # reused from work_dirs/<config name>/), into docs/int8/<machine>.md
    python benchmarks/experiments/measure_int8_drop.py --tasks digits shapes-det \\
        shapes-seg --work-dir work_dirs/int8 --results-dir docs/int8
    # any models
    python benchmarks/experiments/measure_int8_drop.py CONFIG CHECKPOINT
        [CONFIG CHECKPOINT ...] --work-dir DIR [--variants V ...]
        [--max-drop 0.01] [--calib 300] [--shape H W] [--threads 2]
        [--seconds 3] [--rounds 3] [--out JSON] [--results-dir DIR]

``--tasks`` (:data:`TASKS`) measures the demo models: the digits
classifier, the shapes detector of ``make demo`` and the shapes segmentor.
Each is trained as the README trains it (its data tool if the data is
missing, then ``tools/train.py CONFIG`` into ``work_dirs/<config name>``,
with ``--resume`` where a run is there: a finished run is reused as it
is) unless ``--checkpoint TASK=PATH`` gives its checkpoint.

For each model, exports with tools/deploy.py's ``export`` into
DIR/<name>/: ``f32``, then the ``--variants`` (default: ``int8``,
``int8-head``, ``int8-all``):

- ``int8``: ``--precision int8`` as it exports by default (a detector's
  head, decoding and NMS float: the task's ``int8_float_from``);
- ``int8-head``: the head quantized too, its decoding and NMS float;
- ``int8-all``: int8 wherever NNCF quantizes (the decoding and NMS too),
  default (performance) preset: what int8 exported before;
- ``int8-mixed``: the same with NNCF's mixed preset (asymmetric
  activations);
- ``int8-maxdrop``: ``--max-drop`` (minutes: NNCF scores candidates on the
  val set).

All but ``int8`` and ``int8-maxdrop`` only for tasks that keep something
float (detection; elsewhere they are ``int8``). DIR must be new, empty or
hold earlier exports of this tool. Each export first runs once on the
first test image: one whose outputs are not shaped as f32's is reported
as broken and neither scored nor timed (whole-graph int8 of the shapes
detector gave 4000 images' outputs for one, each run taking seconds,
while its NMS sat in an ``If``).
The others are scored on the config's test set with ``evaluate_ir`` (what
tools/deploy_test.py runs: the deployed path and the config's evaluator,
at the f32 precision hint), with their agreement with f32, and the network
is timed on the first test image (synchronous requests, one stream,
``--threads`` threads, f32 hint; the models alternate for ``--rounds``
rounds of ``--seconds`` each and the median of all rounds is reported).
Prints one line per export: the headline metric (top-1 / bbox mAP / mIoU
as a fraction), its drop from f32, the latency and its ratio to f32;
``--out`` writes them as JSON, ``--results-dir`` as this machine's page
(``DIR/<machine>.md`` + ``.json``, :func:`.machine.machine_slug`) and the
index of all machines there (``DIR/README.md``), with the command.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: The demo models of ``--tasks``: config, the tool that writes its data
#: (run where ``data`` is missing) and the export shape (``--shape``; the
#: digits test pipeline has no resize).
TASKS = {
    'digits': dict(config='configs/cls/pplcnetv2-small_digits.py',
                   data='data/digits', make_data='tools/data/make_digits.py',
                   shape=(64, 64)),
    'shapes-det': dict(
        config='configs/det/picodet-style_lcnetv2-small_shapes-demo.py',
        data='data/shapes', make_data='tools/data/make_shapes.py',
        shape=None),
    'shapes-seg': dict(
        config='configs/seg/lraspp_lcnetv2-small_shapes-demo.py',
        data='data/shapes_seg', make_data='tools/data/make_shapes_seg.py',
        shape=None),
}

#: The int8 exports: ``export`` keyword arguments (``max_drop`` from
#: ``--max-drop``); ``int8_options`` only where the task keeps modules
#: float. ``candidates`` is the detection export's decoding (boxes,
#: clipping, score threshold) that NMS follows.
VARIANTS = {
    'int8': dict(precision='int8'),
    'int8-head': dict(precision='int8',
                      int8_options=dict(keep_float=('candidates', ))),
    'int8-all': dict(precision='int8', int8_options=dict(keep_float=())),
    'int8-mixed': dict(precision='int8',
                       int8_options=dict(keep_float=(), preset='mixed')),
    'int8-maxdrop': dict(precision='int8', max_drop=None),
}
DEFAULT_VARIANTS = ('int8', 'int8-head', 'int8-all')


def parse_args(argv=None):
    from mmlcnetv2.cli.args import doc_parser
    parser = doc_parser(__doc__)
    parser.add_argument('models', nargs='*', metavar='CONFIG CHECKPOINT',
                        help='config and checkpoint, one pair per model')
    parser.add_argument('--tasks', nargs='+', choices=list(TASKS),
                        default=[], help='the demo models to measure')
    parser.add_argument('--checkpoint', nargs='+', default=[],
                        metavar='TASK=PATH',
                        help='a --tasks model\'s checkpoint (not trained)')
    parser.add_argument('--work-dir', required=True, metavar='DIR')
    parser.add_argument('--variants', nargs='+', choices=list(VARIANTS),
                        default=list(DEFAULT_VARIANTS),
                        help='int8 exports to make')
    parser.add_argument('--max-drop', type=float, default=0.01)
    parser.add_argument('--calib', type=int, default=300)
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--out', help='also write the results as JSON')
    parser.add_argument('--results-dir', metavar='DIR',
                        help="also write this machine's page and the index "
                        'of all machines there, e.g. docs/int8')
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


def output_shapes(inferencer, info) -> List[List[int]]:
    """The shapes of the IR's outputs for one prepared image."""
    return [list(o.shape) for o in inferencer.infer_tensor(
        info['input'], [info['img_shape']])]


def measure_model(args, config: str, checkpoint: str, work_dir: str,
                  shape=None) -> dict:
    """Export, check, score and time the variants of one model; its rows.

    An export whose outputs are not shaped as f32's (one image's) gets
    ``broken`` and is neither scored nor timed."""
    from mmengine.registry import DATASETS, init_default_scope

    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    from mmlcnetv2.deploy.exporting.accuracy_control import headline
    from mmlcnetv2.deploy.runtime.evaluate import evaluate_ir
    from mmlcnetv2.deploy.tasks import get_task
    cfg = load_config(config)
    rows = {}
    todo = dict(f32=dict(precision='f32'))
    while todo:
        name = next(iter(todo))
        kwargs = todo.pop(name)
        out = osp.join(work_dir, name)
        t0 = time.time()
        meta = export(config, checkpoint, out, shape=shape,
                      calib=args.calib, **kwargs)
        rows[name] = dict(dir=out, export_seconds=round(time.time() - t0, 1),
                          calibration=meta.get('calibration'))
        print(f'[measure] exported {out} ({rows[name]["export_seconds"]} s)',
              flush=True)
        if name == 'f32':  # the task is known now
            todo = _variants(args, meta['task'])
    ov_config = {'PERFORMANCE_HINT': 'LATENCY', 'NUM_STREAMS': 1,
                 'INFERENCE_NUM_THREADS': args.threads}
    inferencers = {name: OpenVINOInferencer(row['dir'], precision_hint='f32',
                                            ov_config=ov_config)
                   for name, row in rows.items()}
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    image = dataset.get_data_info(0)['img_path']
    infos = {name: inf.preprocess(image) for name, inf in inferencers.items()}
    f32_shapes = output_shapes(inferencers['f32'], infos['f32'])
    for name, row in rows.items():
        t0 = time.perf_counter()
        row['output_shapes'] = output_shapes(inferencers[name], infos[name])
        row['one_run_ms'] = (time.perf_counter() - t0) * 1e3
        if row['output_shapes'] != f32_shapes:
            row['broken'] = (f"outputs shaped {row['output_shapes']} for one "
                             f'image, f32 {f32_shapes}')
            print(f'[measure] {name}: broken: {row["broken"]}', flush=True)
            del inferencers[name]
    task = get_task(meta['task'])
    for name in inferencers:
        row = rows[name]
        result = evaluate_ir(row['dir'], cfg, progress=False,
                             compare_dir=None if name == 'f32' else
                             rows['f32']['dir'])
        row['metric'] = task.metric[1]
        row['value'] = headline(result['metrics'], task.name)
        row['metrics'] = {k: float(v) for k, v in result['metrics'].items()
                          if v is not None}
        row['images'] = result['images']
        if 'agreement' in result:
            row['agreement'] = float(result['agreement'])
        print(f"[measure] {name}: {row['metric']} {row['value']:.4f}",
              flush=True)
    times = {name: [] for name in inferencers}
    for _ in range(args.rounds):  # alternate: load drifts hit all alike
        for name, inferencer in inferencers.items():
            times[name] += latency_ms(inferencer, infos[name], args.seconds)
    f32 = rows['f32']
    for name, row in rows.items():
        row['task'] = task.name
        if 'broken' in row:
            continue
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


def _run(cmd: List[str]) -> None:
    """Run a project tool from the repository root; fail on its failure."""
    print('[measure] ' + ' '.join(cmd), flush=True)
    subprocess.run([sys.executable] + cmd, cwd=ROOT, check=True)


def trained_checkpoint(task: str) -> str:
    """The checkpoint of a finished README training of ``task``: its data
    written if missing, ``tools/train.py CONFIG`` run (``--resume`` where
    ``work_dirs/<config name>`` holds a run: a finished one stays as it
    is), the checkpoint the run names last."""
    spec = TASKS[task]
    if not osp.isdir(osp.join(ROOT, spec['data'])):
        _run([spec['make_data']])
    work_dir = osp.join(ROOT, 'work_dirs',
                        osp.splitext(osp.basename(spec['config']))[0])
    last = osp.join(work_dir, 'last_checkpoint')
    _run(['tools/train.py', spec['config']] +
         (['--resume'] if osp.isfile(last) else []))
    with open(last) as f:
        return f.read().strip()


def schedule(config: str, checkpoint: str) -> str:
    """How far ``checkpoint`` trained ``config``: e.g. ``epoch 14 of 14``
    (the Runner's ``meta``), or ``unknown`` for a bare state dict."""
    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.utils.safe_load import read_checkpoint
    meta = (read_checkpoint(checkpoint) or {}).get('meta') or {}
    train_cfg = load_config(config).get('train_cfg') or {}
    if 'max_epochs' in train_cfg and 'epoch' in meta:
        return f"epoch {meta['epoch']} of {train_cfg['max_epochs']}"
    if 'max_iters' in train_cfg and 'iter' in meta:
        return f"iteration {meta['iter']} of {train_cfg['max_iters']}"
    return 'unknown'


def resolve_models(args) -> Dict[str, dict]:
    """name -> config, checkpoint (None: to train), shape, from the
    CONFIG CHECKPOINT pairs and ``--tasks``.

    Raises:
        ValueError: a bad pair, file or ``--checkpoint`` (one line)."""
    if not args.models and not args.tasks:
        raise ValueError('give CONFIG CHECKPOINT pairs or --tasks')
    if len(args.models) % 2:
        raise ValueError(f'models {args.models}: give CONFIG CHECKPOINT '
                         'pairs')
    given = {}
    for item in args.checkpoint:
        task, sep, path = item.partition('=')
        if not sep or task not in args.tasks:
            raise ValueError(f'--checkpoint {item!r}: give TASK=PATH with '
                             f'TASK one of --tasks {args.tasks}')
        given[task] = path
    models = {}
    for config, checkpoint in zip(args.models[0::2], args.models[1::2]):
        models[osp.splitext(osp.basename(config))[0]] = dict(
            config=config, checkpoint=checkpoint,
            shape=None if args.shape is None else tuple(args.shape))
    for task in args.tasks:
        spec = TASKS[task]
        models[task] = dict(config=osp.join(ROOT, spec['config']),
                            checkpoint=given.get(task), shape=spec['shape'])
    for model in models.values():
        for what in ('config', 'checkpoint'):
            path = model[what]
            if path is not None and not osp.isfile(path):
                raise ValueError(f'{what} {path!r}: no such file')
    return models


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    from mmlcnetv2.cli import bad_input
    ignore_known_upstream_warnings()
    try:
        models = resolve_models(args)
    except ValueError as e:
        return bad_input(e)
    start = time.time()
    for name, model in models.items():
        if model['checkpoint'] is None:
            model['checkpoint'] = trained_checkpoint(name)
        model['schedule'] = schedule(model['config'], model['checkpoint'])
        model['rows'] = measure_model(args, model['config'],
                                      model['checkpoint'],
                                      osp.join(args.work_dir, name),
                                      model['shape'])
    result = run_record(models, args, argv, time.time() - start)
    from mmlcnetv2.utils.atomic import atomic_file
    if args.out:
        with atomic_file(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(result, f, indent=1)
    if args.results_dir:
        for path in save_results(result, args.results_dir):
            print(f'[measure] wrote {path}')
    return 0


def run_record(models: dict, args, argv, seconds: float) -> dict:
    """What ``--out`` and ``--results-dir`` record: the machine, the
    command, the settings and the models' rows."""
    import datetime

    import nncf

    from mmlcnetv2.utils.machine import (isa_class, machine_info,
                                             machine_slug)
    machine = machine_info()
    machine.update(isa_class=isa_class(machine['isa']),
                   slug=machine_slug(machine), nncf=nncf.__version__)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = ' '.join(['python benchmarks/experiments/measure_int8_drop.py'] +
                       argv)
    date = datetime.date.today().isoformat()
    rel = {name: dict(model, config=osp.relpath(model['config'], ROOT),
                      command=command, date=date)
           for name, model in models.items()}
    return dict(
        command=command, machine=machine, date=date,
        seconds=round(seconds), threads=args.threads, calib=args.calib,
        rounds=args.rounds, max_drop=args.max_drop, models=rel)


def _cell(row: Optional[dict], f32: dict) -> str:
    """A table cell: value (difference from f32), or why there is none."""
    if row is None:
        return '–'
    if 'broken' in row:
        return f"broken: {row['broken']}; one run {row['one_run_ms']:.0f} ms"
    return f"{row['value']:.4f} ({row['value'] - f32['value']:+.4f})"


def to_markdown(result: dict) -> str:
    """One machine's page: the command, the machine, a summary row per
    model and a row per export."""
    m = result['machine']
    lines = [
        f"# INT8: what it costs per task ({m['slug']})", '',
        '<!-- Generated by benchmarks/experiments/measure_int8_drop.py '
        '--results-dir; do not edit by hand. -->', '',
        'Regenerate (trains each model as the README does, or reuses its '
        'finished run in `work_dirs/`; `--checkpoint TASK=PATH` gives one):',
        '', '```bash'] + list(dict.fromkeys(
            model.get('command', result['command'])
            for model in result['models'].values())) + [
        '```', '', 'All tasks at once: `python benchmarks/experiments/'
        'measure_int8_drop.py --tasks ' + ' '.join(TASKS) +
        ' --work-dir work_dirs/int8 --results-dir docs/int8`.', '',
        f"Machine: {m['cpu']} (ISA class `{m['isa_class']}`: "
        f"{', '.join(m['isa']) or 'unknown'}), {m['physical_cores']} cores; "
        f"OpenVINO {m['openvino']}, NNCF {m['nncf']}, torch {m['torch']}, "
        f"Python {m['python']}; {result['date']}.", '',
        'Metric on the config\'s test set through the deployed path '
        '(`tools/deploy_test.py`: the IR, the config\'s evaluator) at the '
        'f32 precision hint, as a fraction; in brackets the difference from '
        'f32. **int8** is `tools/deploy.py --precision int8` as it exports '
        'by default (a detector\'s head, decoding and NMS float); '
        '**head int8**: the detector\'s head quantized too, decoding and '
        'NMS float; **all int8**: whatever NNCF quantizes, decoding and NMS '
        'included (what int8 exported before). Calibration: '
        f"{result['calib']} train images.", '',
        '| task | config | checkpoint (trained) | metric | test images | '
        'f32 | int8 (default) | head int8 | all int8 |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for name, model in result['models'].items():
        rows = model['rows']
        f32 = rows['f32']
        lines.append(
            f"| {name} | `{model['config']}` | "
            f"`{osp.basename(model['checkpoint'])}` ({model['schedule']}) | "
            f"{f32['metric']} | {f32['images']} | {f32['value']:.4f} | "
            + ' | '.join(_cell(rows.get(v), f32)
                         for v in ('int8', 'int8-head', 'int8-all')) + ' |')
    lines += [
        '', 'Every export: "agrees" is `tools/deploy_test.py --compare-to` '
        'the f32 export (classification: the same top-1; detection: boxes '
        '>= 0.3 matched, same class, IoU >= 0.5; segmentation: pixels of '
        'the same class); latency is the network on the first test image, '
        f"median of {result['rounds']} alternating rounds, "
        f"{result['threads']} threads, one stream, f32 hint (on a shared "
        'machine the ratios move with its load; load average at the end of '
        f"the last run: {m.get('load_average')}).", '',
        '| task | export | metric | value | difference | agrees with f32 | '
        'latency | vs f32 |', '| --- | --- | --- | --- | --- | --- | --- | '
        '--- |']
    for name, model in result['models'].items():
        f32_value = model['rows']['f32']['value']
        for variant, row in model['rows'].items():
            if 'broken' in row:
                lines.append(f"| {name} | {variant} | {_cell(row, row)} |"
                             + ' |' * 5)
                continue
            agree = row.get('agreement', None)
            lines.append(
                f"| {name} | {variant} | {row['metric']} | "
                f"{row['value']:.4f} | {row['value'] - f32_value:+.4f} | "
                f"{'–' if agree is None else f'{agree:.4f}'} | "
                f"{row['latency_ms']:.2f} ms | {row['latency_ratio']:.2f} |")
    return '\n'.join(lines) + '\n'


def to_index(results: Dict[str, dict]) -> str:
    """``DIR/README.md``: one row per machine and model."""
    lines = [
        '# INT8 on every machine class', '',
        '<!-- Generated by benchmarks/experiments/measure_int8_drop.py '
        '--results-dir; do not edit by hand. -->', '',
        'What `--precision int8` costs per task on each CPU class we '
        'measured (int8 kernels differ between VNNI, AVX2 and AMX CPUs); '
        "a run replaces only its own machine's files here. Metric on the "
        'test set, f32 and int8 as exported by default; the machine\'s page '
        'has the command, the alternatives and the latencies.', '',
        '| machine | task | metric | f32 | int8 (default) | difference | '
        'date |', '| --- | --- | --- | --- | --- | --- | --- |']
    for slug in sorted(results):
        r = results[slug]
        for name, model in r['models'].items():
            f32, int8 = model['rows']['f32'], model['rows'].get('int8')
            lines.append(
                f"| [{slug}]({slug}.md) | {name} | {f32['metric']} | "
                f"{f32['value']:.4f} | "
                + (f"{int8['value']:.4f} | "
                   f"{int8['value'] - f32['value']:+.4f}"
                   if int8 and 'broken' not in int8 else '– | –')
                + f" | {model.get('date', r['date'])} |")
    return '\n'.join(lines) + '\n'


def save_results(result: dict, folder: str) -> List[str]:
    """Write ``folder/<machine>.json`` and ``.md`` and regenerate
    ``folder/README.md`` from every ``*.json`` there; the files written.
    The models of an earlier run on this machine class that ``result``
    did not measure stay, each with the command that measured it."""
    from mmlcnetv2.utils.atomic import atomic_file
    os.makedirs(folder, exist_ok=True)
    base = osp.join(folder, result['machine']['slug'])
    if osp.isfile(base + '.json'):
        with open(base + '.json') as f:
            earlier = json.load(f).get('models', {})
        result = dict(result, models=dict(earlier, **result['models']))
    written = []
    for path, text in ((base + '.json', json.dumps(result, indent=1) + '\n'),
                       (base + '.md', to_markdown(result))):
        with atomic_file(path) as tmp, open(tmp, 'w') as f:
            f.write(text)
        written.append(path)
    results = {}
    for path in sorted(glob.glob(osp.join(folder, '*.json'))):
        with open(path) as f:
            results[osp.splitext(osp.basename(path))[0]] = json.load(f)
    index = osp.join(folder, 'README.md')
    with atomic_file(index) as tmp, open(tmp, 'w') as f:
        f.write(to_index(results))
    return written + [index]


if __name__ == '__main__':
    sys.exit(main())
