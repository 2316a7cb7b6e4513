# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write a file or a folder so that readers never see it half-written."""
import json
import os
import os.path as osp
import shutil
import tempfile
from contextlib import contextmanager
from typing import Callable, Collection, Iterator, List, Optional


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 minus the umask."""
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    """The mode ``os.mkdir`` would give a new folder: 0o777 minus the umask.

    ``tempfile.mkdtemp`` makes 0o700 folders, which another user (a serving
    container, a web server) cannot read once renamed into place.
    """
    return 0o777 & ~_umask()


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
        os.chmod(tmp, default_dir_mode())  # mkdtemp makes it 0o700
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


def _last(names: Collection[str], last: Optional[str]) -> List[str]:
    """``names`` sorted, with ``last`` (if among them) at the end."""
    return sorted(names, key=lambda n: (n == last, n))


def _swap_files(folder: str, new_dir: str, old_dir: str,
                replaces: Collection[str], last: Optional[str]) -> None:
    """Move ``replaces`` from ``folder`` into ``old_dir`` and the content of
    ``new_dir`` into ``folder``; undo every move if one fails."""
    new = _last(os.listdir(new_dir), last)
    for name in new:
        if name not in replaces and osp.lexists(osp.join(folder, name)):
            raise FileExistsError(
                f'{osp.join(folder, name)!r} exists and is not one of the '
                'files being replaced; it was left alone')
    old = _last([n for n in replaces if osp.lexists(osp.join(folder, n))],
                last)
    for name in old:
        if osp.isdir(osp.join(folder, name)) and not osp.islink(
                osp.join(folder, name)):
            raise IsADirectoryError(
                f'{osp.join(folder, name)!r} is a folder, not a file to '
                'replace; it was left alone')
    moved_old: List[str] = []
    moved_new: List[str] = []
    try:
        for name in old:
            os.rename(osp.join(folder, name), osp.join(old_dir, name))
            moved_old.append(name)
        for name in new:
            os.rename(osp.join(new_dir, name), osp.join(folder, name))
            moved_new.append(name)
    except BaseException:
        for name in reversed(moved_new):
            os.rename(osp.join(folder, name), osp.join(new_dir, name))
        for name in reversed(moved_old):
            os.rename(osp.join(old_dir, name), osp.join(folder, name))
        raise


@contextmanager
def atomic_update(folder: str, replaces: Collection[str] = (),
                  last: Optional[str] = None) -> Iterator[str]:
    """Yield a temporary folder whose files then go into ``folder``, which
    may hold other files: only the new files and ``replaces`` change.

    A missing ``folder`` is created as :func:`atomic_dir` does. In an
    existing one, the files named in ``replaces`` are moved aside, the new
    files moved in, and the old ones deleted; a failure (in the ``with``
    body or while moving) leaves ``folder`` as it was. Every move is a
    rename inside ``folder``'s file system, so nothing is copied and nothing
    outside ``folder`` is touched. ``last`` is moved away last and in last,
    so a reader who checks it (a marker or index file) sees the others
    complete.

    Example:
        >>> with atomic_update('deploy/cls', replaces=['model.xml',
        ...                    'model.bin', 'deploy.json'],
        ...                    last='deploy.json') as tmp:
        ...     write_the_export_into(tmp)  # deploy/cls/vis stays

    Raises:
        FileExistsError: a new file would replace one of ``folder``'s files
            that is not in ``replaces``.
        IsADirectoryError: a name in ``replaces`` is a folder in ``folder``.
    """
    if not osp.lexists(folder):
        with atomic_dir(folder) as tmp:
            yield tmp
        return
    work = tempfile.mkdtemp(prefix='.tmp-', dir=folder)
    try:
        new_dir, old_dir = osp.join(work, 'new'), osp.join(work, 'old')
        os.mkdir(new_dir)
        os.mkdir(old_dir)
        yield new_dir
        _swap_files(folder, new_dir, old_dir, set(replaces), last)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
