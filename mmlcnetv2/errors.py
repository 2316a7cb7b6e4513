# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Exceptions for bad input, raised by library code and the tools alike.

The tools turn them into one line on stderr and exit status 2
(:mod:`mmlcnetv2.cli`); from Python they are ordinary exceptions whose
message names the bad value and what is allowed.

Example:
    >>> from mmlcnetv2.errors import UserInputError
    >>> raise UserInputError("--calib: must be >= 1, got 0")
"""


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
