# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What the command-line tools share: exit codes, checks before a run, and
the Runner set-up of ``tools/train.py``/``tools/test.py``.

Every tool (``tools/*.py``, ``tools/analysis/*.py``, ``tools/data/*.py``)
exits with

- :data:`OK` (0): done;
- :data:`BAD_INPUT` (2): a bad config value, path, checkpoint, image, shape
  or export folder, or a config that needs an extra that is not installed;
  one line on stderr names the value and what is allowed, and nothing is
  half-written;
- :data:`FAILURE` (1): something failed that is not the user's input (an
  op OpenVINO cannot convert, a bug): the message or traceback says what.

This module is imported before ``--help`` is answered, so it imports
nothing heavy; :mod:`.checks` and :mod:`.runner_setup` import torch and
mmengine, and the tools import them after parsing.

Example:
    >>> from mmlcnetv2.cli import bad_input
    >>> bad_input('--calib must be >= 1, got 0')  # the line goes to stderr
    2
"""
import sys
from typing import Optional, Union

from ..errors import UserInputError

OK = 0
FAILURE = 1
BAD_INPUT = 2


def _report(error: Union[str, BaseException]) -> None:
    print(f'error: {error}', file=sys.stderr)


def bad_input(error: Union[str, BaseException]) -> int:
    """Print ``error: <message>`` on stderr; return :data:`BAD_INPUT`."""
    _report(error)
    return BAD_INPUT


def failure(error: Union[str, BaseException]) -> int:
    """Print ``error: <message>`` on stderr; return :data:`FAILURE`."""
    _report(error)
    return FAILURE


def is_bad_input(error: Optional[BaseException]) -> bool:
    """Whether ``error``, or one it was raised from, is a
    :class:`~mmlcnetv2.errors.UserInputError` (library code may wrap one
    in a RuntimeError that adds context)."""
    while error is not None:
        if isinstance(error, UserInputError):
            return True
        error = error.__cause__
    return False


def bad_input_or_failure(error: BaseException) -> int:
    """:func:`bad_input` if :func:`is_bad_input`, else :func:`failure`."""
    return bad_input(error) if is_bad_input(error) else failure(error)
