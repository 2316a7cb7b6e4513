# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write a file or a folder so that readers never see it half-written."""
import json
import os
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
        os.chmod(tmp, default_file_mode())  # mkstemp makes it 0o600
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


def write_dir_once(path: str, meta: dict, write: Callable[[str], None],
                   force: bool = False) -> bool:
    """Write a generated dataset folder unless an identical one is there.

    ``meta`` (the generator's arguments and format version) is stored as
    ``path/meta.json``, written last, so its presence marks a complete
    folder; ``write(tmp)`` fills the temporary folder.

    Returns:
        bool: True if it wrote the folder, False if it kept the existing one.
    """
    meta_file = osp.join(path, 'meta.json')
    if not force and osp.isfile(meta_file):
        with open(meta_file) as f:
            if json.load(f) == meta:
                return False
    with atomic_dir(path) as tmp:
        write(tmp)
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1)
    return True
