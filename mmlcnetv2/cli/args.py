# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Command-line options that ``tools/train.py`` and ``tools/test.py`` share.

Torch-free (``--help`` imports it).
"""
import argparse
import os
from typing import Optional, Sequence

from mmengine.config import DictAction


def add_runner_args(parser: argparse.ArgumentParser,
                    cfg_options_example: str) -> None:
    """``--cfg-options``, ``--launcher`` and ``--local-rank``, as mmengine's
    own tools spell them."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help=f'override settings, e.g. {cfg_options_example}')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[Sequence[str]] = None
                      ) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for the launcher (mmengine reads
    the environment, not the option)."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def doc_parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` is the tool's module docstring: its first
    line the description, the rest (usage examples, notes) verbatim below
    the options."""
    lines = doc.splitlines()
    return argparse.ArgumentParser(
        description=lines[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(lines[1:]))
