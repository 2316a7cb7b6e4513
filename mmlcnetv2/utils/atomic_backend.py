# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""mmengine's local file backend, writing each file so that it is never
seen half-written.

mmengine's ``Runner.save_checkpoint`` serialises the checkpoint and hands
the bytes to the file backend of the path (``LocalBackend.put``), which
opens the final name and writes: a run killed meanwhile (SIGKILL, out of
memory, power loss) leaves a truncated ``epoch_N.pth`` under the name that
``--resume`` picks. :class:`AtomicLocalBackend` writes under a temporary
name (:func:`mmlcnetv2.utils.atomic.atomic_file`), flushes it to the disk
and only then renames it into place. :mod:`mmlcnetv2.compat` makes it
mmengine's ``local`` backend.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend

from .atomic import atomic_file


def _fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the OS allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def write_bytes_atomically(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path``: a temporary name, fsync, then rename.

    After a crash at any point, ``path`` holds either its old content (or
    nothing) or all of ``data``; the temporary file a killed process left
    is removed by the next write into the same folder
    (:func:`mmlcnetv2.utils.atomic.clean_leftovers`).
    """
    path = str(path)
    with atomic_file(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    _fsync_dir(osp.dirname(osp.abspath(path)))


class AtomicLocalBackend(LocalBackend):
    """:class:`mmengine.fileio.LocalBackend` whose ``put`` and ``put_text``
    write with :func:`write_bytes_atomically`; reading is unchanged.

    Example:
        >>> from mmengine.fileio import get_file_backend
        >>> get_file_backend('work_dirs/run/epoch_1.pth')  # doctest: +SKIP
        <mmlcnetv2.utils.atomic_backend.AtomicLocalBackend object at ...>
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        write_bytes_atomically(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        write_bytes_atomically(obj.encode(encoding), filepath)
