# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Let mmengine's own Runner checkpoints load under ``weights_only=True``.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.7
calls ``torch.load`` without the argument, and a Runner checkpoint pickles
objects that the safe unpickler refuses:

- the message hub's ``HistoryBuffer`` and the numpy arrays and scalars in it:
  plain data, added to torch's allowlist here;
- ``HistoryBuffer``'s table of statistics methods, pickled as
  ``getattr(HistoryBuffer, 'min')``. Allowing ``getattr`` would allow almost
  anything, so instead the four default methods (which
  ``HistoryBuffer.__setstate__`` registers again by itself) are left out of
  the pickled state.

Safe loading stays on: a checkpoint naming anything else is still refused
(:func:`explain_refusal` turns torch's refusal into one line that says why
and does not pass on torch's advice to switch safe loading off).
Checkpoints written by a process that did not import :mod:`mmlcnetv2` still
hold the ``getattr`` entries.
"""
import pickle
import re
from contextlib import contextmanager
from typing import Iterator, List, Optional

import numpy as np
import torch


def _numpy_globals() -> List[object]:
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    scalar_types = [np.float64, np.float32, np.float16, np.int64, np.int32,
                    np.int16, np.int8, np.uint8, np.bool_]
    dtype_types = [type(np.dtype(t)) for t in scalar_types]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dtype_types]


def _leave_default_statistics_out_of_history_buffer_state() -> None:
    from mmengine.logging.history_buffer import HistoryBuffer
    original = HistoryBuffer.__getstate__
    if getattr(original, '_mmlcnetv2', False):
        return
    defaults = {name: getattr(HistoryBuffer, name)
                for name in ('min', 'max', 'current', 'mean')}

    def __getstate__(self) -> dict:
        state = dict(original(self))
        custom = {
            name: method
            for name, method in state.pop('statistics_methods', {}).items()
            if defaults.get(name) is not method
        }
        if custom:  # user-registered statistics are kept (need getattr)
            state['statistics_methods'] = custom
        return state

    __getstate__._mmlcnetv2 = True
    HistoryBuffer.__getstate__ = __getstate__


MMENGINE_CHECKPOINT_GLOBALS: List[object] = []


def allow_mmengine_checkpoints() -> List[object]:
    """Make mmengine Runner checkpoints save and load under safe loading.

    Idempotent; called when :mod:`mmlcnetv2` is imported.

    Returns:
        list: The globals added to torch's allowlist.
    """
    if not MMENGINE_CHECKPOINT_GLOBALS:
        from mmengine.logging.history_buffer import HistoryBuffer
        _leave_default_statistics_out_of_history_buffer_state()
        MMENGINE_CHECKPOINT_GLOBALS.extend(_numpy_globals() + [HistoryBuffer])
        torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
    return MMENGINE_CHECKPOINT_GLOBALS


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
