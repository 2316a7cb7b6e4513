#!/usr/bin/env python
"""The main demo: detect shapes with the PicoDet-style PP-LCNetV2 detector.

1. writes the embedded shapes dataset to ``data/shapes/`` if absent
   (``tools/data/make_shapes.py``);
2. trains ``configs/det/picodet-style_lcnetv2-small_shapes-demo.py`` from
   scratch with mmengine's Runner (what ``tools/train.py`` runs), resuming
   from the last epoch's checkpoint if an earlier run was interrupted;
3. evaluates the final model on val with mmdet's ``CocoMetric`` and draws
   its predictions on every val image with ``DetLocalVisualizer`` (ground
   truth left, detections with score >= the config's ``score_thr`` right);
4. writes the metrics, times and machine class to this machine's results
   file (``docs/demo/<machine>.json`` + ``.md``, indexed by
   ``docs/demo/README.md``) and prints them.

    make demo    # or: .venv/bin/python tools/demo.py [--work-dir DIR]

Rerunning after a complete run only re-evaluates; ``--restart`` trains again.
A run with another schedule, dataset size or settings (``--max-epochs``,
``--num-train``, ``--num-val``, ``--cfg-options``) writes its results file
into the work dir, not ``docs/demo/``, unless ``--results-dir`` says where.
"""
import argparse
import json
import os
import os.path as osp
import re
import shutil
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'det',
                  'picodet-style_lcnetv2-small_shapes-demo.py')
DEFAULT_WORK_DIR = osp.join(ROOT, 'work_dirs',
                            'picodet-style_lcnetv2-small_shapes-demo')
DEFAULT_RESULTS_DIR = osp.join(ROOT, 'docs', 'demo')
DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL = 800, 100


def parse_args(argv=None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=DEFAULT_WORK_DIR,
                        help='checkpoints, logs, metrics and pictures')
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data',
                                                        'shapes'),
                        help='the shapes dataset (written if absent)')
    parser.add_argument('--max-epochs', type=int,
                        help='override the config\'s schedule (for tests)')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN,
                        help='training images to generate')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL,
                        help='val images to generate')
    parser.add_argument('--results-dir',
                        help='where this machine\'s results file goes '
                        '(default: docs/demo/ for the demo as configured, '
                        'the work dir for other settings)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'train_dataloader.batch_size=8')
    parser.add_argument('--restart', action='store_true',
                        help='train from scratch even if checkpoints exist')
    return parser.parse_args(argv)


def is_demo_work_dir(folder: str) -> bool:
    """Whether ``folder`` is a work dir of this demo: its summary or
    mmengine's ``last_checkpoint`` there, or only the timestamped log
    folders of a run stopped before its first checkpoint."""
    entries = os.listdir(folder)
    return bool({'demo_metrics.json', 'last_checkpoint'} & set(entries)) or \
        all(re.fullmatch(r'\d{8}_\d{6}', e) for e in entries)


def make_data(data_root: str, num_train: int, num_val: int) -> None:
    sys.path.insert(0, osp.join(ROOT, 'tools', 'data'))
    from make_shapes import make_shapes
    start = time.time()
    wrote = make_shapes(data_root, num_train=num_train, num_val=num_val)
    print(f'[demo] data: {"wrote" if wrote else "found"} {data_root} '
          f'({time.time() - start:.0f} s)', flush=True)


def build_cfg(args: argparse.Namespace):
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG)
    root = args.data_root.rstrip('/') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = root + 'annotations/instances_val.json'
    if args.max_epochs is not None:
        cfg.train_cfg.max_epochs = args.max_epochs
        cfg.train_cfg.val_interval = args.max_epochs
        for sched in cfg.param_scheduler:
            if sched.type == 'CosineAnnealingLR':
                sched.end = sched.T_max = args.max_epochs
    from mmlcnetv2.cli.runner_setup import merge_cfg_options
    merge_cfg_options(cfg, args.cfg_options)
    cfg.work_dir = args.work_dir
    # An interrupted run continues from its last epoch checkpoint.
    cfg.resume = not args.restart
    cfg.load_from = None
    # Into a folder that main() names when the test starts.
    cfg.default_hooks.visualization.update(draw=True, interval=1)
    return cfg


def results_dir(args: argparse.Namespace) -> str:
    """``--results-dir``, else ``docs/demo/`` for the demo as configured and
    the work dir for a run with another schedule or data size (a quick run
    never replaces a machine's published result)."""
    if args.results_dir is not None:
        return args.results_dir
    as_configured = (args.max_epochs is None and not args.cfg_options
                     and args.num_train == DEFAULT_NUM_TRAIN
                     and args.num_val == DEFAULT_NUM_VAL)
    return DEFAULT_RESULTS_DIR if as_configured else args.work_dir


def check_results_dir(folder: str) -> None:
    """Refuse a ``--results-dir`` that cannot hold the results before the
    minutes of training, not after."""
    existing = folder
    while not osp.exists(existing):
        existing = osp.dirname(osp.abspath(existing))
    if not osp.isdir(existing) or not os.access(existing, os.W_OK):
        raise ValueError(f'--results-dir {folder}: {existing} is not a '
                         'writable folder')


def write_json(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename)."""
    from mmlcnetv2.utils.atomic import atomic_file
    with atomic_file(path) as tmp, open(tmp, 'w') as f:
        json.dump(data, f, indent=1)


def _visualization_hook(runner):
    """The runner's ``DetVisualizationHook`` (the config's
    ``default_hooks.visualization``)."""
    from mmdet.engine.hooks import DetVisualizationHook
    return next(h for h in runner.hooks
                if isinstance(h, DetVisualizationHook))


def iteration_counter():
    """An mmengine hook that counts the training iterations this run ran
    (not those before a resume), for the time per iteration."""
    from mmengine.hooks import Hook

    class IterationCounter(Hook):
        priority = 'LOWEST'
        iters = 0

        def after_train_iter(self, *args, **kwargs) -> None:
            self.iters += 1

    return IterationCounter()


def _fmt(value) -> str:
    # CocoMetric returns no mAP when the model detects nothing at all.
    return 'n/a (no detections)' if value is None else f'{value:.3f}'


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    t0, load0 = time.time(), os.getloadavg()
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.errors import UserInputError
    out_dir = results_dir(args)
    try:
        check_results_dir(out_dir)
        make_data(args.data_root, args.num_train, args.num_val)
    except ValueError as e:  # a bad count, a --data-root that is not ours
        return bad_input(e)

    import mmlcnetv2  # noqa: F401  (registers PPLCNetV2, safe loading)
    from mmengine.runner import Runner

    from mmlcnetv2.utils.atomic import atomic_dir, check_replaceable_dir

    if args.restart and osp.isdir(args.work_dir):
        try:  # --restart deletes a work dir of the demo, nothing else
            check_replaceable_dir(args.work_dir, is_demo_work_dir,
                                  '--work-dir')
        except ValueError as e:
            return bad_input(e)
        shutil.rmtree(args.work_dir)
    pictures = osp.join(osp.abspath(args.work_dir), 'val_pictures')
    try:
        cfg = build_cfg(args)
    except UserInputError as e:  # a --cfg-options key that names nothing
        return bad_input(e)
    runner = Runner.from_cfg(cfg)
    from mmlcnetv2.utils.denormals import describe_denormals
    runner.logger.info(describe_denormals())
    counter = iteration_counter()
    runner.register_hook(counter)
    t1, cpu1 = time.time(), time.process_time()
    runner.train()  # with resume: no-op if training already finished
    t2, cpu2 = time.time(), time.process_time()
    # Drawn into a temporary folder that replaces the previous run's
    # pictures as a whole, and only once complete.
    with atomic_dir(pictures) as tmp:
        _visualization_hook(runner).test_out_dir = tmp
        metrics = runner.test()
    t3 = time.time()

    ckpt_file = osp.join(args.work_dir, 'last_checkpoint')
    with open(ckpt_file) as f:
        checkpoint = f.read().strip()
    seconds = dict(
        setup_data=round(t1 - t0, 1), train=round(t2 - t1, 1),
        train_cpu=round(cpu2 - cpu1, 1),
        train_per_iter=round((t2 - t1) / max(counter.iters, 1), 3),
        test_and_pictures=round(t3 - t2, 1))
    summary = dict(
        config=osp.relpath(CONFIG, ROOT),
        checkpoint=checkpoint,
        pictures=pictures,
        bbox_mAP=metrics.get('coco/bbox_mAP'),
        bbox_mAP_50=metrics.get('coco/bbox_mAP_50'),
        metrics=metrics,
        seconds=seconds)
    metrics_file = osp.join(args.work_dir, 'demo_metrics.json')
    write_json(metrics_file, summary)
    cli_args = sys.argv[1:] if argv is None else list(argv)
    load = dict(start=[round(x, 2) for x in load0],
                end=[round(x, 2) for x in os.getloadavg()])
    written = save_results(args, cli_args, runner, metrics, seconds,
                           counter.iters, load, out_dir)

    n_pics = len(os.listdir(pictures)) if osp.isdir(pictures) else 0
    print('\n[demo] PicoDet-style PP-LCNetV2-small, shapes val '
          f'({args.num_val} images):')
    print(f'[demo]   bbox mAP@0.5      {_fmt(summary["bbox_mAP_50"])}')
    print(f'[demo]   bbox mAP@.5:.95   {_fmt(summary["bbox_mAP"])}')
    print(f'[demo]   pictures ({n_pics}): {pictures}')
    print(f'[demo]   metrics:    {metrics_file}')
    print(f'[demo]   checkpoint: {checkpoint}')
    print(f'[demo]   results of this machine class: {written[0]}')
    print(f'[demo]   time: data {t1 - t0:.0f} s, train {t2 - t1:.0f} s '
          f'({counter.iters} iterations, CPU {cpu2 - cpu1:.0f} s), '
          f'test + pictures {t3 - t2:.0f} s')
    return 0


def save_results(args: argparse.Namespace, cli_args: list, runner,
                 metrics: dict, seconds: dict, iters: int, load: dict,
                 folder: str) -> list:
    """This machine's results file (``folder/<machine>.json`` + ``.md``)
    and the index of all machines there; returns the files written."""
    from mmlcnetv2.benchmark.demo_results import (demo_machine, demo_result,
                                                  save_demo_result)
    cfg = runner.cfg
    loader = cfg.train_dataloader
    result = demo_result(
        metrics, demo_machine(),
        command=' '.join(['tools/demo.py', *cli_args]),
        config=osp.relpath(CONFIG, ROOT),
        schedule=(f'{cfg.train_cfg.max_epochs} epochs of '
                  f'{args.num_train} images at batch {loader.batch_size}, '
                  f'{runner.iter} iterations in all, seed '
                  f'{cfg.randomness.seed}'),
        num_train=args.num_train, num_val=args.num_val,
        train_iters_this_run=iters, seconds=seconds, load_average=load)
    return save_demo_result(result, folder)


if __name__ == '__main__':
    sys.exit(main())
