# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""A write that fails because the disk is full, said as such.

Python says ``OSError: [Errno 28] No space left on device`` without the
output the user named, and OpenVINO's ``save_model`` only
``basic_ios::clear: iostream error``. :func:`reporting_full_disk` turns
either into one :class:`NoSpaceError` naming the output; it asks the file
system while the partial files are still there (the caller's temporary
folder or file), as after their removal the space is free again.

Example:
    >>> with atomic_file(path) as tmp:  # doctest: +SKIP
    ...     with reporting_full_disk(tmp, path):
    ...         write(tmp)
"""
import errno
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator

from ..errors import UserInputError

#: Free space below which a failed write is taken for a full disk: a write
#: fails once less than the block it writes is left.
NEARLY_FULL = 1 << 20

_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class NoSpaceError(UserInputError, OSError):
    """An output that could not be written: no space left on its device."""


def free_bytes(path: str) -> int:
    """Bytes an unprivileged write can still use on ``path``'s file system
    (of its nearest existing folder)."""
    folder = osp.abspath(path)
    while not osp.isdir(folder) and osp.dirname(folder) != folder:
        folder = osp.dirname(folder)
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def is_full(error: BaseException, path: str) -> bool:
    """Whether ``error`` of writing ``path`` means its disk is full: the
    errno says so, or (a library that hides it) the space left is below
    :data:`NEARLY_FULL`."""
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    try:
        return free_bytes(path) < NEARLY_FULL
    except OSError:
        return False


@contextmanager
def reporting_full_disk(written: str, output: str) -> Iterator[None]:
    """Raise :class:`NoSpaceError` naming ``output`` for a write into
    ``written`` (a temporary file or folder) that failed on a full disk.

    Raises:
        NoSpaceError: ``cannot write OUTPUT: no space left on device``,
            with the space left.
    """
    try:
        yield
    except NoSpaceError:
        raise
    except (OSError, RuntimeError) as e:
        if not is_full(e, written):
            raise
        try:
            left = f' ({free_bytes(written):,} bytes free)'
        except OSError:
            left = ''
        raise NoSpaceError(
            f'cannot write {output}: no space left on device{left}; '
            'nothing was written') from e
