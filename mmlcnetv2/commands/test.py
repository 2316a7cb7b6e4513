# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Evaluate a checkpoint of any config of this project with mmengine's
Runner (classification, detection, segmentation).

    mmlcnetv2 test CONFIG CHECKPOINT
    mmlcnetv2 test CONFIG CHECKPOINT --out preds.pkl  # raw predictions
    mmlcnetv2 test CONFIG CHECKPOINT --show-dir vis   # pictures
    bash tools/dist_test.sh CONFIG CHECKPOINT 2       # 2 processes

``--out`` appends mmengine's ``DumpResults`` to the test evaluator;
``--show-dir`` turns on the task's own visualization hook (mmpretrain's
``VisualizationHook``, mmdet's ``DetVisualizationHook``, mmseg's
``SegVisualizationHook``). Bad input exits with status 2 and one line naming
the problem.
"""
import argparse
import os.path as osp

from mmlcnetv2.cli.args import add_runner_args, parse_runner_args


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the logs go')
    parser.add_argument(
        '--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument(
        '--show-dir', help='write pictures of the predictions here')
    parser.add_argument(
        '--show-interval', type=int, default=1,
        help='with --show-dir, draw every N-th image (default: all)')
    add_runner_args(parser, 'test_dataloader.batch_size=8')
    return parse_runner_args(parser, argv)


def setup_show_dir(cfg, show_dir: str, interval: int = 1) -> str:
    """Turn on the config's visualization hook, writing to ``show_dir``.

    Returns:
        str: Where the pictures go (seg: ``<show_dir>/vis_data/vis_image``,
        the visualizer's storage layout).
    """
    from mmlcnetv2.errors import UserInputError
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise UserInputError('--show-dir: the config has no '
                             'default_hooks.visualization to draw with')
    show_dir = osp.abspath(show_dir)
    kind = hook['type'].split('.')[-1]
    hook.interval = interval
    if kind == 'VisualizationHook':  # mmpretrain
        hook.enable, hook.out_dir = True, show_dir
        return show_dir
    if kind == 'DetVisualizationHook':  # mmdet: joins absolute paths as is
        hook.draw, hook.test_out_dir = True, show_dir
        return show_dir
    if kind == 'SegVisualizationHook':  # mmseg: through the visualizer
        hook.draw = True
        cfg.visualizer.save_dir = show_dir
        return osp.join(show_dir, 'vis_data', 'vis_image')
    raise UserInputError(
        f'--show-dir: unknown visualization hook {hook["type"]!r}; known: '
        'VisualizationHook, DetVisualizationHook, SegVisualizationHook')


def apply_test_args(cfg, args: argparse.Namespace) -> None:
    """The checkpoint, ``--out`` and ``--show-dir`` (the options
    tools/train.py has too are applied by
    ``mmlcnetv2.cli.runner_setup.build_cfg``)."""
    from mmlcnetv2.errors import UserInputError
    from mmlcnetv2.utils.safe_load import check_checkpoint_path
    check_checkpoint_path(args.checkpoint)
    cfg.load_from, cfg.resume = args.checkpoint, False
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise UserInputError(f'--out {args.out!r}: must end with .pkl or '
                             '.pickle (mmengine DumpResults)')
    if args.out is not None:
        from mmlcnetv2.utils.outputs import check_output_file
        check_output_file(args.out, '--out', example='preds.pkl')
    if args.show_dir is not None:
        setup_show_dir(cfg, args.show_dir, args.show_interval)


def atomic_dump_results(out_file_path: str):
    """mmengine's ``DumpResults``, writing beside the target and renaming
    when complete (no half-written file), and logging the real path."""
    from mmengine.evaluator import DumpResults
    from mmengine.fileio import dump
    from mmengine.logging import print_log

    from mmlcnetv2.utils.atomic import atomic_file

    class AtomicDumpResults(DumpResults):

        def compute_metrics(self, results: list) -> dict:
            # Called on rank 0 only, once every rank's results are collected.
            with atomic_file(self.out_file_path, suffix='.pkl') as tmp:
                dump(results, tmp)
            print_log(f'Results have been saved to {self.out_file_path}.',
                      logger='current')
            return {}

    return AtomicDumpResults(out_file_path=osp.abspath(out_file_path))


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.cli.runner_setup import run_runner

    def add_dump(runner) -> None:
        if args.out is not None:
            runner.test_evaluator.metrics.append(
                atomic_dump_results(args.out))

    return run_runner(args, apply_test_args, training=False,
                      prepare=add_dump)

