# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Write a file or a folder so that readers never see it half-written.

Everything is written under a temporary hidden name beside its destination
and renamed into place when complete::

    .NAME.tmp-PID-XXXXXXXX[.ext]   being written (a file or a folder)
    .NAME.old-PID-XXXXXXXX         a replaced folder, deleted once replaced
    .update.tmp-PID-XXXXXXXX       the work folder of :func:`atomic_update`

What a killed run (SIGKILL, power loss) left is removed by the next run
that writes into the same folder (:func:`clean_leftovers`), by proof of
ownership, never by its name: each temporary entry has a marker file
beside it, ``ENTRY.mmlcnetv2-temp``, created before the entry and holding
what this module wrote into it (whose entry it is), and locked with
``fcntl.flock`` by the writer for as long as the entry lives. A leftover is
removed only if its marker says it is ours and its lock is free: the
writer is gone. A user's file or folder whose name looks like one
(``.photos.old-4242-20190807``) has no such marker and is never touched; a
live writer in another PID namespace (another container on the same
volume), whose PID means nothing here, still holds its lock, which the
kernel shows to every process. A folder set aside while being replaced is
put back rather than deleted when its replacement never arrived.
"""
import errno
import fcntl
import json
import os
import os.path as osp
import secrets
import shutil
import stat
from contextlib import contextmanager
from typing import Callable, Collection, Iterator, List, Optional, Set

from ..errors import UserInputError

#: The end of a temporary entry's marker file name (``ENTRY`` + this).
MARKER_SUFFIX = '.mmlcnetv2-temp'
# What a marker holds besides its entry's name: that this module wrote it.
_OWNER = 'mmlcnetv2.utils.atomic'
_KINDS = ('tmp', 'old', 'update')
# A marker is a few hundred bytes; a larger file is not one.
_MARKER_MAX_BYTES = 4096
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


class _NotOurs(Exception):
    """A marker-like file that is not a marker of this module."""


def _read_marker(fd: int, marker: str) -> dict:
    """The content of the open marker file ``marker`` (its name), checked
    to be one this module wrote for the entry it is named after.

    Raises:
        _NotOurs: anything else (a user's file of a look-alike name).
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MARKER_MAX_BYTES:
        raise _NotOurs(marker)
    try:
        info = json.loads(os.pread(fd, _MARKER_MAX_BYTES, 0))
    except ValueError:
        raise _NotOurs(marker) from None
    entry = marker[:-len(MARKER_SUFFIX)]
    target = info.get('target') if isinstance(info, dict) else None
    if not (isinstance(info, dict) and info.get('owner') == _OWNER
            and info.get('entry') == entry and info.get('kind') in _KINDS
            and isinstance(target, str) and target not in ('', '.', '..')
            and os.sep not in target):
        raise _NotOurs(marker)
    return info


def _open_marker(path: str) -> int:
    """``os.open`` a would-be marker for reading, links not followed and a
    FIFO of that name not waited on."""
    return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)


def _claim_dead(folder: str, marker: str) -> Optional[tuple]:
    """``(fd, content)`` of the marker ``folder/marker`` if it is ours and
    its writer is gone, its lock now held through ``fd`` (to close);
    None if it is not ours, its writer lives, or either cannot be told."""
    path = osp.join(folder, marker)
    try:
        fd = _open_marker(path)
    except OSError:
        return None
    try:
        # Not blocking: held means a writer is alive, in whatever PID
        # namespace; an error (a file system without flock) proves nothing.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Still the file of that name: its writer may have removed it and
        # made another meanwhile.
        st, now = os.fstat(fd), os.stat(path, follow_symlinks=False)
        if (st.st_dev, st.st_ino) != (now.st_dev, now.st_ino):
            raise _NotOurs(marker)
        return fd, _read_marker(fd, marker)
    except (OSError, _NotOurs):
        os.close(fd)
        return None


def _remove(path: str) -> None:
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def _clean_leftover(folder: str, info: dict) -> bool:
    """Remove the dead leftover that the marker content ``info`` names,
    keeping what would be the only copy; False if it was left for a
    person."""
    path = osp.join(folder, info['entry'])
    if info['kind'] == 'old':
        # Killed between moving the old folder aside and the new one in:
        # the old one is the only copy; put it back.
        kept, home = osp.join(path, info['target']), osp.join(
            folder, info['target'])
        if osp.lexists(kept) and not osp.lexists(home):
            os.rename(kept, home)
    elif info['kind'] == 'update' and osp.isdir(osp.join(path, 'old')) \
            and os.listdir(osp.join(path, 'old')):
        # atomic_update killed while swapping: the old files moved aside
        # are the only copy of a half-replaced folder. Left for a person.
        return False
    _remove(path)
    return True


def clean_leftovers(folder: str) -> List[str]:
    """Remove what killed runs of this module left in ``folder``.

    Only entries whose marker (see the module docstring) this module wrote
    and whose writer no longer holds the marker's lock; a folder set aside
    by :func:`atomic_dir` whose replacement never arrived is renamed back
    instead. Nothing else is touched, whatever its name. Called by the
    functions below for the folder they write into (:func:`atomic_file`:
    once per process).

    Returns:
        list[str]: The names of the leftovers removed or restored.
    """
    try:
        entries = os.listdir(folder)
    except OSError:  # missing, or not ours to read
        return []
    done = []
    for marker in sorted(e for e in entries if e.endswith(MARKER_SUFFIX)):
        claim = _claim_dead(folder, marker)
        if claim is None:
            continue
        fd, info = claim
        try:  # the lock held until the marker is gone
            if _clean_leftover(folder, info):
                os.remove(osp.join(folder, marker))
                done.append(info['entry'])
        except OSError:
            continue  # not ours to remove after all (permissions)
        finally:
            os.close(fd)
    return done


def temp_entries(folder: str) -> Set[str]:
    """The names of this module's temporary entries in ``folder`` (being
    written, or left by a killed run) and of their markers: what a reader
    of the folder skips. A user's file of a look-alike name is not one."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return set()
    names = set()
    for marker in (e for e in entries if e.endswith(MARKER_SUFFIX)):
        try:
            fd = _open_marker(osp.join(folder, marker))
        except OSError:
            continue
        try:
            names |= {marker, _read_marker(fd, marker)['entry']}
        except (OSError, _NotOurs):
            pass
        finally:
            os.close(fd)
    return names


def _clean_once(folder: str) -> None:
    """:func:`clean_leftovers` the first time this process writes a file
    into ``folder``: not once per picture of a folder of thousands."""
    folder = osp.abspath(folder)
    if folder not in _cleaned:
        _cleaned.add(folder)
        clean_leftovers(folder)


def _make_file(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


@contextmanager
def _claimed(parent: str, name: str, kind: str, suffix: str,
             make: Callable[[str], None]) -> Iterator[str]:
    """Make a temporary entry for ``name`` in ``parent`` with ``make``
    (``os.mkdir``, :func:`_make_file`), claimed by its marker, and yield
    its path. The marker is created, locked and written first; when the
    block ends it is unlocked, and removed if the block renamed or removed
    the entry (one still there is a leftover for :func:`clean_leftovers`).

    Args:
        kind: ``'tmp'`` (being written), ``'old'`` (a folder set aside,
            holding ``name``) or ``'update'`` (:func:`atomic_update`).
        suffix: The entry's extension, if any (``'.jpg'``).
    """
    tag = 'old' if kind == 'old' else 'tmp'
    entry = f'.{name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}{suffix}'
    path, marker = osp.join(parent, entry), osp.join(parent,
                                                     entry + MARKER_SUFFIX)
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no flock here: never cleaned, never mistaken
            pass
        os.write(fd, json.dumps(dict(owner=_OWNER, entry=entry, kind=kind,
                                     target=name)).encode())
        make(path)
        yield path
    finally:
        try:
            if not osp.lexists(path):
                os.remove(marker)
        finally:
            os.close(fd)


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
    with _claimed(parent, osp.basename(osp.abspath(path)), 'tmp', suffix,
                  _make_file) as tmp:
        try:
            yield tmp
            os.chmod(tmp, default_file_mode())  # whatever the writer made
            os.replace(tmp, path)
        finally:
            if osp.lexists(tmp):
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
    # os.mkdir gives the umask's mode (mkdtemp's 0o700 would keep another
    # user, a serving container, out once renamed into place).
    with _claimed(parent, name, 'tmp', '', os.mkdir) as tmp:
        try:
            yield tmp
            if osp.lexists(path):
                _replace_dir(parent, name, tmp)
            else:
                _rename_new(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _replace_dir(parent: str, name: str, tmp: str) -> None:
    """Replace ``parent/name`` by the folder ``tmp``: the old one is moved
    into a claimed folder aside (put back if the new one cannot go in),
    then deleted."""
    path = osp.join(parent, name)
    with _claimed(parent, name, 'old', '', os.mkdir) as old:
        os.rename(path, osp.join(old, name))
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rename(osp.join(old, name), path)
            raise
        shutil.rmtree(old, ignore_errors=True)


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
    with _claimed(folder, 'update', 'update', '', os.mkdir) as work:
        try:
            new_dir, old_dir = osp.join(work, 'new'), osp.join(work, 'old')
            os.mkdir(new_dir)
            os.mkdir(old_dir)
            yield new_dir
            _swap_files(folder, new_dir, old_dir, set(replaces), last)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def signed_meta(meta_file: str, generator: str) -> Optional[dict]:
    """The ``meta.json`` of :func:`write_dir_once` if ``generator`` signed
    it (its ``generator`` and a ``format_version``), else None (missing,
    not JSON, another generator's, a user's dataset's own)."""
    try:
        with open(meta_file) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    signed = isinstance(meta, dict) and meta.get('generator') == generator \
        and 'format_version' in meta
    return meta if signed else None


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

    ``meta`` is the generator's signature: its ``generator`` (the tool's
    name), ``format_version`` and arguments. It is stored as
    ``path/meta.json``, written last, so its presence marks a complete
    folder; ``write(tmp)`` fills the temporary folder. An existing ``path``
    is replaced only if it is empty or its ``meta.json`` carries the same
    ``generator`` (other arguments or another ``format_version``: then it
    is regenerated), even with ``force``, which only regenerates an
    identical one: a folder of the user's (another dataset's
    ``meta.json`` too) is never deleted.

    Returns:
        bool: True if it wrote the folder, False if it kept the existing one.

    Raises:
        UserInputError: ``path`` is a file or a non-empty folder without
            this generator's ``meta.json``.
    """
    meta_file = osp.join(path, 'meta.json')
    # Also when the data is kept: a killed run's leftovers go.
    clean_leftovers(osp.dirname(osp.abspath(path)))
    generator = meta['generator']
    check_replaceable_dir(
        path, lambda p: signed_meta(osp.join(p, 'meta.json'), generator)
        is not None, 'output folder')
    if not force and signed_meta(meta_file, generator) == meta:
        return False
    with atomic_dir(path) as tmp:
        write(tmp)
        with open(osp.join(tmp, 'meta.json'), 'w') as f:
            json.dump(meta, f, indent=1)
    return True
