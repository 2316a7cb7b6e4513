# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Train any config of this project (classification, detection,
segmentation) with mmengine's Runner.

    mmlcnetv2 train configs/cls/pplcnetv2-small_digits.py
    mmlcnetv2 train CONFIG --resume        # latest in work_dir
    mmlcnetv2 train CONFIG --resume CKPT   # that checkpoint
    mmlcnetv2 train CONFIG --amp           # bf16 autocast on CPU
    bash tools/dist_train.sh CONFIG 2      # torchrun, 2 processes

Each config carries its own ``default_scope``/``custom_imports``, so the same
command serves mmpretrain, mmdet and mmseg configs. Bad input (a missing
config or data root, an unknown ``--cfg-options`` key, a checkpoint of
another arch) exits with status 2 and one line naming the problem.
"""
import argparse

from mmlcnetv2.cli.args import add_runner_args, parse_runner_args


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or without a value from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='mixed precision: AMP (fp16) on a GPU, bf16 autocast on CPU')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr linearly by the actual total batch size')
    parser.add_argument('--seed', type=int, help='random seed')
    parser.add_argument(
        '--deterministic', action='store_true',
        help='deterministic algorithms (slower)')
    add_runner_args(parser, 'train_cfg.max_epochs=2')
    return parse_runner_args(parser, argv)


def apply_train_args(cfg, args: argparse.Namespace) -> None:
    """``--amp``, ``--auto-scale-lr``, ``--resume``, ``--seed`` and
    ``--deterministic`` (the options tools/test.py has too are applied by
    ``mmlcnetv2.cli.runner_setup.build_cfg``), and the
    :class:`~mmlcnetv2.engine.RandomStateHook` that lets a resumed run
    continue the saved one."""
    from mmlcnetv2.cli.runner_setup import (add_random_state_hook, setup_amp,
                                            setup_auto_scale_lr)
    add_random_state_hook(cfg)
    if args.amp:
        setup_amp(cfg)
    if args.auto_scale_lr:
        setup_auto_scale_lr(cfg)
    if args.resume == 'auto':
        from mmlcnetv2.cli.resume import find_resume_checkpoint
        cfg.resume = True
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        from mmlcnetv2.cli.resume import check_resumable
        from mmlcnetv2.errors import UserInputError
        try:
            check_resumable(args.resume)
        except (FileNotFoundError, UserInputError) as e:
            raise UserInputError(f'--resume: {e}') from None
        cfg.resume, cfg.load_from = True, args.resume
    if args.seed is not None or args.deterministic:
        randomness = dict(cfg.get('randomness') or {})
        if args.seed is not None:
            randomness['seed'] = args.seed
        randomness['deterministic'] = args.deterministic
        cfg.randomness = randomness


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.cli.runner_setup import run_runner
    return run_runner(args, apply_train_args, training=True)

