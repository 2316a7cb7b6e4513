# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write a file or a folder so that readers never see it half-written."""
import os
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def atomic_file(path: str, suffix: str = '.tmp') -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on
    success, delete it on error.

    Example:
        >>> with atomic_file('out/model.pth') as tmp:
        ...     torch.save(obj, tmp)
    """
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_dir(path: str) -> Iterator[str]:
    """Yield a temporary folder beside ``path``; on success it replaces
    ``path`` (an old ``path`` is moved aside first, then deleted), on error
    it is deleted and ``path`` is left as it was.

    Example:
        >>> with atomic_dir('data/shapes') as tmp:
        ...     write_everything_into(tmp)
    """
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    name = osp.basename(osp.abspath(path))
    tmp = tempfile.mkdtemp(prefix=f'.{name}.tmp-', dir=parent)
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0o700
        if osp.lexists(path):
            old = tempfile.mkdtemp(prefix=f'.{name}.old-', dir=parent)
            os.rename(path, osp.join(old, name))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
