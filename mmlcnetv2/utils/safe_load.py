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
allowlist in :mod:`mmlcnetv2.compat`. Safe loading stays on: a checkpoint
naming anything else is still refused, and :func:`explain_refusal` turns
torch's refusal into one line that says why and does not pass on torch's
advice to switch safe loading off.
"""
import os
import os.path as osp
import pickle
import re
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from ..errors import UserInputError

# What torch.save writes: a zip archive (torch >= 1.6), or before that a
# pickle (protocol 2: it starts with the PROTO opcode).
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = b'\x80'


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
