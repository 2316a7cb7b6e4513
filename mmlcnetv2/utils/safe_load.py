# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""One line for a checkpoint that torch's safe (``weights_only``) loading
refuses.

mmengine's own Runner checkpoints load under safe loading thanks to the
allowlist in :mod:`mmlcnetv2.compat`. Safe loading stays on: a checkpoint
naming anything else is still refused, and :func:`explain_refusal` turns
torch's refusal into one line that says why and does not pass on torch's
advice to switch safe loading off.
"""
import pickle
import re
from contextlib import contextmanager
from typing import Iterator, Optional


class UnsafeCheckpointError(ValueError):
    """A checkpoint that safe loading refused: it carries code or objects
    other than tensors and plain data."""


def _refused_global(message: str) -> Optional[str]:
    """The name torch's safe unpickler stopped at (``posix.getcwd``), if
    its message says."""
    found = re.search(r'GLOBAL ([\w.]+)', message)
    if found:
        return found.group(1).rstrip('.')
    found = re.search(r'WeightsUnpickler error: ([^\n]*)', message)
    return found.group(1).split('. Please use')[0] if found else None


def refusal_message(path: str, error: BaseException) -> Optional[str]:
    """Our one-line message for torch's safe-load refusal of ``path``, or
    None if ``error`` is something else.

    torch's own message says that ``weights_only=False`` "will likely
    succeed": for a file from an unknown source that is the one thing not to
    do, so it is not repeated.
    """
    text = str(error)
    if not isinstance(error, pickle.UnpicklingError) or \
            'weights only load failed' not in text.lower():
        return None
    what = _refused_global(text)
    return (f'checkpoint {path!r} contains code or objects that safe '
            f'loading does not allow' + (f' ({what})' if what else '') +
            '; it was not loaded. Do not load it by other means unless you '
            'trust its source.')


@contextmanager
def explain_refusal(path: str) -> Iterator[None]:
    """Turn torch's safe-load refusal of ``path`` inside the block into an
    :class:`UnsafeCheckpointError` with :func:`refusal_message`.

    Example:
        >>> with explain_refusal('model.pth'):
        ...     torch.load('model.pth')  # doctest: +SKIP
    """
    try:
        yield
    except pickle.UnpicklingError as e:
        message = refusal_message(path, e)
        if message is None:
            raise
        # from None: torch's text (and its advice) is not chained either.
        raise UnsafeCheckpointError(message) from None
