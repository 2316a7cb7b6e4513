# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Exceptions for bad input, raised by library code and the tools alike.

The tools turn them into one line on stderr and exit status 2
(:mod:`mmlcnetv2.cli`); from Python they are ordinary exceptions whose
message names the bad value and what is allowed.

Example:
    >>> from mmlcnetv2.errors import UserInputError
    >>> raise UserInputError("--calib: must be >= 1, got 0")

The exit statuses of every command (:data:`OK`, :data:`BAD_INPUT`,
:data:`FAILURE`) and their one-line reports (:func:`bad_input`,
:func:`failure`) are here too; :mod:`mmlcnetv2.cli` re-exports them.
"""
import sys
from typing import Optional, Union


class UserInputError(ValueError):
    """A bad config value, path or checkpoint, named in the message."""


class MissingExtraError(UserInputError, ModuleNotFoundError):
    """A config or module needs an optional dependency that is not
    installed; the message names the ``pip install 'mmlcnetv2[extra]'``
    that provides it, ``name`` the missing package (as ImportError's)."""

    def __init__(self, message: str, package: str) -> None:
        super().__init__(message)
        self.name = package


class CheckpointMismatchError(UserInputError, RuntimeError):
    """A checkpoint that does not fit the model of the config (strict
    loading failed). A RuntimeError too, as torch's and mmengine's
    strict-loading errors are."""


class UnsupportedModelError(UserInputError, NotImplementedError):
    """A model the export cannot turn into a graph that gives the
    OpenMMLab results (a two-stage detector, a head whose post-processing
    it does not know): refused before the conversion, in one line naming
    the class and what exports. A NotImplementedError too, as the export's
    earlier refusals were."""


#: Exit statuses of every command: done; something failed that is not the
#: user's input; bad input (one line names it, nothing was written).
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
