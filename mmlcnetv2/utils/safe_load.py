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

Safe loading stays on: a checkpoint naming anything else is still refused.
Checkpoints written by a process that did not import :mod:`mmlcnetv2` still
hold the ``getattr`` entries; load those with ``weights_only=False`` only if
you trust them.
"""
from typing import List

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
