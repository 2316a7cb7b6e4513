# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What the commands (:mod:`mmlcnetv2.commands`) share: exit codes, checks
before a run, and the Runner set-up of ``train``/``test``.

Every command (and every script: ``tools/``, ``benchmarks/``) exits with

- :data:`OK` (0): done;
- :data:`BAD_INPUT` (2): a bad config value, path, checkpoint, image, shape
  or export folder, or a config that needs an extra that is not installed;
  one line on stderr names the value and what is allowed, and nothing is
  half-written;
- :data:`FAILURE` (1): something failed that is not the user's input (an
  op OpenVINO cannot convert, a bug): the message or traceback says what.

The exit codes and their one-line reports are defined in
:mod:`mmlcnetv2.errors` (beside the errors they report, so that library
code below the commands, e.g. the dataset generators, reports the same
way) and imported here. This module is imported before ``--help`` is
answered, so it imports nothing heavy; :mod:`.checks` and
:mod:`.runner_setup` import torch and mmengine, and the commands import
them after parsing.

Example:
    >>> from mmlcnetv2.cli import bad_input
    >>> bad_input('--calib must be >= 1, got 0')  # the line goes to stderr
    2
"""
from ..errors import (BAD_INPUT, FAILURE, OK, bad_input, bad_input_or_failure,
                      failure, is_bad_input)

__all__ = ['OK', 'FAILURE', 'BAD_INPUT', 'bad_input', 'failure',
           'is_bad_input', 'bad_input_or_failure']
