# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write a file or a folder so that readers never see it half-written.

Everything is written under a temporary hidden name beside its destination
and renamed into place when complete. The names say whose they are::

    .NAME.tmp-PID-XXXXXXXX[.ext]   being written (a file or a folder)
    .NAME.old-PID-XXXXXXXX         a replaced folder, deleted once replaced

so that what a killed run (SIGKILL, power loss) left is recognised and
removed by the next run that writes into the same folder
(:func:`clean_leftovers`): only names of this form, only of a process that
is no longer running, and never the only copy of a replaced folder.
"""
import errno
import json
import os
import os.path as osp
import re
import shutil
import tempfile
from contextlib import contextmanager
from typing import Callable, Collection, Iterator, List, Optional, Set

from ..errors import UserInputError

#: A temporary name of this module (see the module docstring).
LEFTOVER_NAME = re.compile(
    r'^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-[a-z0-9_]{8}'
    r'(?:\.[A-Za-z0-9]+)?$')
# Folders this process has cleaned: once each, not once per file written.
_cleaned: Set[str] = set()


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


def _temp_prefix(path: str, kind: str = 'tmp') -> str:
    """``.NAME.KIND-PID-`` for a temporary name of ``path``."""
    return f'.{osp.basename(osp.abspath(path))}.{kind}-{os.getpid()}-'


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: str) -> None:
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _clean_leftover(folder: str, entry: str, name: str, kind: str) -> None:
    """Remove one dead leftover of :func:`atomic_dir` / :func:`atomic_file`
    / :func:`atomic_update`, keeping what would be the only copy."""
    path = osp.join(folder, entry)
    if kind == 'old':
        # Killed between moving the old folder aside and the new one in:
        # the old one is the only copy; put it back.
        kept = osp.join(path, name)
        if osp.lexists(kept) and not osp.lexists(osp.join(folder, name)):
            os.rename(kept, osp.join(folder, name))
    elif osp.isdir(osp.join(path, 'old')) and os.listdir(
            osp.join(path, 'old')):
        # atomic_update killed while swapping: the old files moved aside
        # are the only copy of a half-replaced folder. Left for a person.
        return
    _remove(path)


def clean_leftovers(folder: str) -> List[str]:
    """Remove what killed runs of this module left in ``folder``.

    Only entries named as the module docstring says, whose process is not
    running; a folder set aside by :func:`atomic_dir` whose replacement
    never arrived is renamed back instead. Called by the functions below
    for the folder they write into (:func:`atomic_file`: once per
    process).

    Returns:
        list[str]: The names removed or restored.
    """
    try:
        entries = os.listdir(folder)
    except OSError:  # missing, or not ours to read
        return []
    done = []
    for entry in sorted(entries):
        match = LEFTOVER_NAME.match(entry)
        if match is None or _running(int(match['pid'])):
            continue
        try:
            _clean_leftover(folder, entry, match['name'], match['kind'])
        except OSError:
            continue  # not ours to remove after all (permissions)
        done.append(entry)
    return done


def _clean_once(folder: str) -> None:
    """:func:`clean_leftovers` the first time this process writes a file
    into ``folder``: not once per picture of a folder of thousands."""
    folder = osp.abspath(folder)
    if folder not in _cleaned:
        _cleaned.add(folder)
        clean_leftovers(folder)


@contextmanager
def atomic_file(path: str, suffix: str = '.tmp') -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on
    success, delete it on error.

    The temporary file is hidden and named after ``path``
    (``.model.pth.tmp-PID-XXXXXXXX.tmp``); ``suffix`` is its extension (a
    writer that picks the format by it, as cv2.imwrite does, needs the
    real one).

    Example:
        >>> with atomic_file('out/model.pth') as tmp:
        ...     torch.save(obj, tmp)
    """
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    _clean_once(parent)
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix=_temp_prefix(path),
                               dir=parent)
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
    clean_leftovers(parent)
    name = osp.basename(osp.abspath(path))
    tmp = tempfile.mkdtemp(prefix=_temp_prefix(path), dir=parent)
    try:
        yield tmp
        os.chmod(tmp, default_dir_mode())  # mkdtemp makes it 0o700
        if osp.lexists(path):
            old = tempfile.mkdtemp(prefix=_temp_prefix(path, 'old'),
                                   dir=parent)
            os.rename(path, osp.join(old, name))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            _rename_new(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _rename_new(tmp: str, path: str) -> None:
    """Rename the folder ``tmp`` to ``path``, which was missing when the
    run began; another run (two exports into one new folder) may have
    made it meanwhile, and that one is kept."""
    try:
        os.rename(tmp, path)
    except OSError as e:
        if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
            raise
        raise FileExistsError(
            f'{path!r} was created by another process while this one wrote '
            'it; that one was kept and nothing of this run was written') \
            from None


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
    clean_leftovers(folder)
    work = tempfile.mkdtemp(prefix=_temp_prefix('update'), dir=folder)
    try:
        new_dir, old_dir = osp.join(work, 'new'), osp.join(work, 'old')
        os.mkdir(new_dir)
        os.mkdir(old_dir)
        yield new_dir
        _swap_files(folder, new_dir, old_dir, set(replaces), last)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_meta(meta_file: str) -> Optional[dict]:
    """The ``meta.json`` of :func:`write_dir_once`, or None if it is not
    one (missing, not JSON, no ``format_version``)."""
    try:
        with open(meta_file) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and 'format_version' in meta \
        else None


def check_replaceable_dir(path: str, is_ours: Callable[[str], bool],
                          what: str) -> None:
    """Refuse to replace ``path`` unless it is missing, an empty folder, or
    a folder ``is_ours`` recognises (a dataset the same tool wrote).

    Raises:
        UserInputError: ``path`` is a file, or a folder of something else
            (``--out data`` holding other datasets); nothing is changed.
    """
    if not osp.lexists(path):
        return
    if not osp.isdir(path):
        raise UserInputError(f'{what} {path!r} is a file, not a folder; '
                             'nothing was written')
    if os.listdir(path) and not is_ours(path):
        raise UserInputError(
            f'{what} {path!r} is a folder that this tool did not write and '
            'it is not empty; it was left alone (choose a new or empty '
            'folder, e.g. a subfolder of it)')


def write_dir_once(path: str, meta: dict, write: Callable[[str], None],
                   force: bool = False) -> bool:
    """Write a generated dataset folder unless an identical one is there.

    ``meta`` (the generator's arguments and ``format_version``) is stored
    as ``path/meta.json``, written last, so its presence marks a complete
    folder; ``write(tmp)`` fills the temporary folder. An existing ``path``
    is replaced only if it holds such a ``meta.json`` (or nothing), even
    with ``force``: a folder of the user's is never deleted.

    Returns:
        bool: True if it wrote the folder, False if it kept the existing one.

    Raises:
        UserInputError: ``path`` is a file or a non-empty folder without a
            generator's ``meta.json``.
    """
    meta_file = osp.join(path, 'meta.json')
    # Also when the data is kept: a killed run's leftovers go.
    clean_leftovers(osp.dirname(osp.abspath(path)))
    check_replaceable_dir(
        path, lambda p: _read_meta(osp.join(p, 'meta.json')) is not None,
        'output folder')
    if not force and _read_meta(meta_file) == meta:
        return False
    with atomic_dir(path) as tmp:
        write(tmp)
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1)
    return True
