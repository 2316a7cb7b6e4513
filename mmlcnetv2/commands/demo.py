# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The main demo: detect shapes with the PicoDet-style PP-LCNetV2 detector.

1. writes the embedded shapes dataset to ``data/shapes/`` if absent
   (``mmlcnetv2 make-shapes``);
2. trains ``configs/det/picodet-style_lcnetv2-small_shapes-demo.py`` (from
   the installed package) from scratch with mmengine's Runner (what
   ``mmlcnetv2 train`` runs), resuming
   from the last epoch's checkpoint if an earlier run was interrupted;
3. evaluates the final model on val with mmdet's ``CocoMetric`` and draws
   its predictions on every val image with ``DetLocalVisualizer`` (ground
   truth left, detections with score >= the config's ``score_thr`` right);
4. writes the metrics, times and machine class to this machine's results
   file (``docs/demo/<machine>.json`` + ``.md``, indexed by
   ``docs/demo/README.md``) and prints them.

    mmlcnetv2 demo [--work-dir DIR]   # in a checkout: make demo

Where it writes: ``data/shapes/`` and ``work_dirs/<config name>/`` under the
current folder (``tools/demo.py``: under the checkout), and the results file
into ``docs/demo/`` where that folder is there (a checkout), else into the
work dir.

Rerunning after a complete run only re-evaluates; ``--restart`` trains again.
The work dir must be new, empty or one the demo made (it holds the demo's
marker file): any other folder is refused untouched, also by --restart,
which deletes the demo's own folder only.
A run with another schedule, dataset size or settings (``--max-epochs``,
``--num-train``, ``--num-val``, ``--cfg-options``) writes its results file
into the work dir, not ``docs/demo/``, unless ``--results-dir`` says where.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys
import time
from typing import List, Optional, Sequence

#: The demo's config, as a path under the package's configs root.
CONFIG = 'det/picodet-style_lcnetv2-small_shapes-demo.py'
#: How the results files name it (as in a checkout).
CONFIG_NAME = f'configs/{CONFIG}'
WORK_DIR = osp.join('work_dirs', 'picodet-style_lcnetv2-small_shapes-demo')
DATA_ROOT = osp.join('data', 'shapes')
RESULTS_DIR = osp.join('docs', 'demo')
DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL = 800, 100
#: Written into a work dir the demo makes: only such a folder is the
#: demo's to write into and, with --restart, to delete.
MARKER = '.mmlcnetv2-demo.json'
MARKER_CONTENT = dict(written_by='tools/demo.py',
                      note='this folder was made by tools/demo.py, which '
                      'deletes it on --restart')


def parse_args(argv: Optional[Sequence[str]] = None,
               root: str = '.') -> argparse.Namespace:
    """The options; the default folders are under ``root``."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join(root, WORK_DIR),
                        help='checkpoints, logs, metrics and pictures')
    parser.add_argument('--data-root', default=osp.join(root, DATA_ROOT),
                        help='the shapes dataset (written if absent)')
    parser.add_argument('--max-epochs', type=int,
                        help='override the config\'s schedule (for tests)')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN,
                        help='training images to generate')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL,
                        help='val images to generate')
    parser.add_argument('--results-dir',
                        help='where this machine\'s results file goes '
                        '(default: docs/demo/ for the demo as configured '
                        'where that folder is there, else the work dir)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. '
                        'train_dataloader.batch_size=8')
    parser.add_argument('--restart', action='store_true',
                        help='train from scratch even if checkpoints exist '
                        "(deletes the work dir, if the demo made it)")
    args = parser.parse_args(argv)
    args.root = root
    return args


def _has_marker(folder: str) -> bool:
    """Whether ``folder`` holds the :data:`MARKER` that :func:`claim_work_dir`
    wrote when it made the folder (not a look-alike: its content too)."""
    path = osp.join(folder, MARKER)
    if osp.islink(path) or not osp.isfile(path):
        return False
    try:
        with open(path) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and \
        marker.get('written_by') == MARKER_CONTENT['written_by']


def check_work_dir(work_dir: str) -> None:
    """Refuse a ``work_dir`` that the demo may not use: a file, or a
    non-empty folder without the demo's :data:`MARKER` (an mmengine work
    dir of another run, with its checkpoints and notes, has none).

    Raises:
        UserInputError: naming ``--work-dir``; nothing was touched.
    """
    from mmlcnetv2.utils.atomic import check_replaceable_dir
    check_replaceable_dir(work_dir, _has_marker, '--work-dir')


def claim_work_dir(work_dir: str, restart: bool) -> None:
    """Make ``work_dir`` the demo's, or check that it is.

    A missing or empty folder is made the demo's: the :data:`MARKER` is
    written into it. A folder with the marker is the demo's to resume in
    and write pictures into, and ``restart`` deletes it whole first; any
    other folder is refused (:func:`check_work_dir`).
    """
    check_work_dir(work_dir)
    if restart and osp.isdir(work_dir):
        shutil.rmtree(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    if not _has_marker(work_dir):
        write_json(osp.join(work_dir, MARKER), MARKER_CONTENT)


def make_data(data_root: str, num_train: int, num_val: int) -> None:
    from mmlcnetv2.datasets.generate.shapes import make_shapes
    start = time.time()
    wrote = make_shapes(data_root, num_train=num_train, num_val=num_val)
    print(f'[demo] data: {"wrote" if wrote else "found"} {data_root} '
          f'({time.time() - start:.0f} s)', flush=True)


def build_cfg(args: argparse.Namespace):
    from mmengine.config import Config

    from mmlcnetv2.model_index import resolve_config
    cfg = Config.fromfile(resolve_config(CONFIG))
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
    """``--results-dir``, else ``docs/demo/`` (under ``args.root``) for the
    demo as configured where that folder is there (a checkout), and the
    work dir otherwise: for a run with another schedule or data size (a
    quick run never replaces a machine's published result) and outside a
    checkout."""
    if args.results_dir is not None:
        return args.results_dir
    as_configured = (args.max_epochs is None and not args.cfg_options
                     and args.num_train == DEFAULT_NUM_TRAIN
                     and args.num_val == DEFAULT_NUM_VAL)
    published = osp.join(args.root, RESULTS_DIR)
    return published if as_configured and osp.isdir(published) \
        else args.work_dir


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


def main(argv: Optional[Sequence[str]] = None, root: str = '.',
         prog: str = 'mmlcnetv2 demo') -> int:
    """Run the demo; returns the exit status.

    Args:
        argv: The options (default: ``sys.argv[1:]``).
        root: The folder the default paths are under (``tools/demo.py``:
            its checkout; the command: the current folder).
        prog: The command, as the results file records it.
    """
    args = parse_args(argv, root)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    t0, load0 = time.time(), os.getloadavg()
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.errors import UserInputError
    out_dir = results_dir(args)
    try:  # first: a --work-dir that is not the demo's is refused untouched
        check_work_dir(args.work_dir)
        check_results_dir(out_dir)
        make_data(args.data_root, args.num_train, args.num_val)
        claim_work_dir(args.work_dir, args.restart)
    except ValueError as e:  # a bad count, a folder that is not ours
        return bad_input(e)

    import mmlcnetv2  # noqa: F401  (registers PPLCNetV2, safe loading)
    from mmengine.runner import Runner

    from mmlcnetv2.utils.atomic import atomic_dir

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
        config=CONFIG_NAME,
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
    written = save_results(args, [prog, *cli_args], runner, metrics,
                           seconds, counter.iters, load, out_dir)

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


def save_results(args: argparse.Namespace, command: List[str], runner,
                 metrics: dict, seconds: dict, iters: int, load: dict,
                 folder: str) -> list:
    """This machine's results file (``folder/<machine>.json`` + ``.md``)
    and the index of all machines there; returns the files written.
    ``command`` is the command line that ran, as recorded."""
    from mmlcnetv2.commands.demo_results import (demo_machine,
                                                 demo_result,
                                                 save_demo_result)
    cfg = runner.cfg
    loader = cfg.train_dataloader
    result = demo_result(
        metrics, demo_machine(),
        command=' '.join(command),
        config=CONFIG_NAME,
        schedule=(f'{cfg.train_cfg.max_epochs} epochs of '
                  f'{args.num_train} images at batch {loader.batch_size}, '
                  f'{runner.iter} iterations in all, seed '
                  f'{cfg.randomness.seed}'),
        num_train=args.num_train, num_val=args.num_val,
        train_iters_this_run=iters, seconds=seconds, load_average=load)
    return save_demo_result(result, folder)

