# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Which checkpoint ``tools/train.py --resume`` (without a value) resumes.

mmengine 0.10.7 reads the path in ``WORK_DIR/last_checkpoint`` and resumes
from it; without that file it logs "Auto resumed from the latest checkpoint
None" and trains from scratch, and a truncated checkpoint ends in a
traceback. Here every candidate is read before the Runner starts: the
checkpoint ``last_checkpoint`` names, else the newest readable one beside
it. A bad one is named in one line and skipped; when none is readable, or
there is none, ``--resume`` is refused (it is never dropped).
"""
import os
import os.path as osp
import re
import sys
from typing import List, Optional, Tuple

from ..errors import UserInputError

#: The names mmengine's CheckpointHook gives (``filename_tmpl``'s default).
CHECKPOINT_NAME = re.compile(r'^(?:epoch|iter)_\d+\.pth$')


def _last_checkpoint(work_dir: str) -> Optional[str]:
    """The path in ``work_dir/last_checkpoint`` (None if missing/empty)."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _newest_first(folders: List[str]) -> List[str]:
    """The checkpoints (by name) in ``folders``, the newest first."""
    found = set()
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.update(osp.join(folder, n) for n in names
                     if CHECKPOINT_NAME.match(n))

    def mtime(path: str) -> float:
        try:
            return os.stat(path).st_mtime
        except OSError:
            return 0.0
    return sorted(found, key=lambda p: (mtime(p), p), reverse=True)


def check_resumable(path: str) -> None:
    """Fail unless ``path`` is a readable Runner checkpoint (with the
    iteration to go on from).

    Raises:
        FileNotFoundError: Nothing at ``path``.
        UserInputError: Truncated, damaged, unsafe, or no training state.
    """
    from ..utils.safe_load import read_checkpoint
    ckpt = read_checkpoint(path)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or 'iter' not in meta \
            or 'epoch' not in meta:
        raise UserInputError(
            f'checkpoint {path!r} holds no training state (meta.epoch and '
            'meta.iter of a Runner checkpoint); it can be loaded with '
            'load_from, not resumed')


def _first_readable(candidates: List[str]) -> Tuple[Optional[str],
                                                     List[str]]:
    """The first of ``candidates`` that :func:`check_resumable` accepts,
    and why each one before it was not."""
    problems = []
    for path in candidates:
        try:
            check_resumable(path)
        except (FileNotFoundError, UserInputError) as e:
            problems.append(str(e))
            continue
        return path, problems
    return None, problems


def find_resume_checkpoint(work_dir: str) -> str:
    """The checkpoint to resume ``work_dir``'s run from.

    The one ``work_dir/last_checkpoint`` names (mmengine's choice), if it
    is readable; else the newest readable checkpoint beside it or in
    ``work_dir``, after one line on stderr naming the bad one.

    Raises:
        UserInputError: No checkpoint at all, or none readable (each bad
            one named); nothing was written.
    """
    last = _last_checkpoint(work_dir)
    folders = [work_dir] + ([osp.dirname(last)] if last else [])
    others = [p for p in _newest_first(folders)
              if not last or osp.abspath(p) != osp.abspath(last)]
    candidates = ([last] if last else []) + others
    if not candidates:
        raise UserInputError(
            f'--resume: {work_dir!r} holds no checkpoint to resume from (no '
            'last_checkpoint, no epoch_N.pth / iter_N.pth); run without '
            '--resume to start from the beginning, or give --resume CKPT')
    path, problems = _first_readable(candidates)
    if path is None:
        raise UserInputError(
            f'--resume: no checkpoint in {work_dir!r} can be resumed: '
            + '; '.join(problems) + '. Delete the bad files to start from '
            'the beginning, or give --resume CKPT')
    if problems:
        more = f' (and {len(problems) - 1} more)' if len(problems) > 1 \
            else ''
        print(f'warning: --resume: {problems[0]}{more}; resuming from '
              f'{path!r}, the newest readable checkpoint, instead',
              file=sys.stderr)
    elif not last:
        print(f'warning: --resume: {work_dir!r} has no last_checkpoint; '
              f'resuming from {path!r}, the newest readable checkpoint',
              file=sys.stderr)
    return path
