# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Reading a torch checkpoint given by the user, with one line for
everything that can be wrong with the file.

:func:`read_checkpoint` is the one reader of the tools' checkpoints
(``tools/deploy.py``, ``tools/reparameterize.py``, the checks before
``tools/train.py``/``tools/test.py``): a missing path, a folder, an empty,
truncated or foreign file and one that safe loading refuses are each named
for what they are, before torch's own messages (an ``EOFError``, a miniz
error, a ``KeyError`` of a byte value) can blame the config or the model.

mmengine's own Runner checkpoints load under safe loading thanks to the
allowlist here (:func:`allow_mmengine_checkpoints`, added when torch is
imported). Safe loading stays on: a checkpoint
naming anything else is still refused, and :func:`explain_refusal` turns
torch's refusal into one line that says why and does not pass on torch's
advice to switch safe loading off.
"""
import os
import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional

from ..errors import UserInputError

# What torch.save writes: a zip archive (torch >= 1.6), or before that a
# pickle (protocol 2: it starts with the PROTO opcode).
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = b'\x80'


# Upstream: torch >= 2.6 loads with ``weights_only=True`` by default;
# mmengine 0.10.7 calls ``torch.load`` without the argument, and a Runner
# checkpoint pickles objects the safe unpickler refuses:
# - the message hub's ``HistoryBuffer`` and the numpy arrays and scalars in
#   it: plain data, added to torch's allowlist here;
# - ``HistoryBuffer``'s table of statistics methods, pickled as
#   ``getattr(HistoryBuffer, 'min')``. Allowing ``getattr`` would allow
#   almost anything, so instead the four default methods (which
#   ``HistoryBuffer.__setstate__`` registers again by itself) are left out
#   of the pickled state.
# Safe loading stays on: a checkpoint naming anything else is still refused
# (:func:`explain_refusal` says why in one line).
# Checkpoints written by a process that did not import mmlcnetv2 still hold
# the ``getattr`` entries.
# Remove: when mmengine's Runner checkpoints save and load under
# ``torch.load(weights_only=True)`` unaided; delete these functions and the
# ``when_imported('torch', ...)`` in :func:`mmlcnetv2.compat.install`, then run
# tests/test_safe_load.py, which must still pass.
MMENGINE_CHECKPOINT_GLOBALS: List[object] = []


def _numpy_globals() -> List[object]:
    import numpy as np
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


def allow_mmengine_checkpoints() -> List[object]:
    """Make mmengine Runner checkpoints save and load under safe loading.

    Idempotent; called when torch is imported after :mod:`mmlcnetv2`.

    Returns:
        list: The globals added to torch's allowlist.
    """
    if not MMENGINE_CHECKPOINT_GLOBALS:
        import torch
        from mmengine.logging.history_buffer import HistoryBuffer
        _leave_default_statistics_out_of_history_buffer_state()
        MMENGINE_CHECKPOINT_GLOBALS.extend(_numpy_globals() + [HistoryBuffer])
        torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
    return MMENGINE_CHECKPOINT_GLOBALS


class UnsafeCheckpointError(UserInputError):
    """A checkpoint that safe loading refused: it carries code or objects
    other than tensors and plain data."""


class UnreadableCheckpointError(UserInputError):
    """A checkpoint path that is no readable torch file: a folder, an empty,
    truncated or damaged file, or a file of another kind."""


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


def check_checkpoint_path(path: str) -> None:
    """Fail unless ``path`` is a file (its content is
    :func:`check_checkpoint_file`'s business).

    Raises:
        FileNotFoundError: Nothing is at ``path``.
        UnreadableCheckpointError: A folder or another non-file.
    """
    if not osp.lexists(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    if osp.isdir(path):
        raise UnreadableCheckpointError(
            f'checkpoint {path!r} is a folder; give the checkpoint file in '
            'it (a .pth file of torch.save)')
    if not osp.isfile(path):
        raise UnreadableCheckpointError(
            f'checkpoint {path!r} is not a regular file')


def check_checkpoint_file(path: str) -> None:
    """Fail unless ``path`` is a non-empty file that starts as a
    ``torch.save`` file does (a zip archive, or an old-style pickle).

    Raises:
        FileNotFoundError: Nothing is at ``path``.
        UnreadableCheckpointError: A folder, an empty file or a file of
            another kind (named, with what it starts with).
    """
    check_checkpoint_path(path)
    if os.path.getsize(path) == 0:
        raise UnreadableCheckpointError(
            f'checkpoint {path!r} is empty (0 bytes); was it written '
            'completely?')
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head.startswith((_ZIP_MAGIC, _PICKLE_PROTO)):
        raise UnreadableCheckpointError(
            f'checkpoint {path!r} is not a torch checkpoint (a .pth file of '
            f'torch.save starts as a zip archive, this one with {head!r})')


def read_checkpoint(path: str) -> Any:
    """Load ``path`` with mmengine's checkpoint loader under safe loading
    (on the CPU), every problem with the file as one line.

    Returns:
        The loaded object (a Runner checkpoint's dict, a bare state dict).

    Raises:
        FileNotFoundError: Nothing is at ``path``.
        UnreadableCheckpointError: See :func:`check_checkpoint_file`; also a
            file that torch cannot read to its end (truncated, damaged).
        UnsafeCheckpointError: Safe loading refused it.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    check_checkpoint_file(path)
    try:
        with explain_refusal(path):
            return _load_checkpoint(path, map_location='cpu')
    # A torch file that breaks off: a miniz RuntimeError, an EOFError, a
    # KeyError or UnpicklingError of a stray byte value.
    except (RuntimeError, EOFError, KeyError, ValueError, OSError,
            pickle.UnpicklingError) as e:
        if isinstance(e, UserInputError):
            raise
        first = (str(e).strip().splitlines() or [''])[0]
        raise UnreadableCheckpointError(
            f'checkpoint {path!r} cannot be read as a torch checkpoint '
            f'(truncated or damaged?): {type(e).__name__}: '
            f'{first[:200]}') from None
