# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The one check of an output file a user gives a tool, before any work.

Two ways an output name goes wrong:

- it cannot become a file: a folder (``newdir/``, an existing folder) or a
  path under a file; :func:`~mmlcnetv2.utils.atomic.atomic_file` writes
  beside the target and renames, so that would fail at the very end with
  an ``OSError`` traceback (missing parent folders are fine: they are made);
- it is an input: a tool that writes its result over the file it reads
  (``reparameterize.py ckpt.pth ckpt.pth``, ``infer.py --out-json
  photo.jpg``) destroys the input. "The same file" is decided by the file
  system (device and inode), so a symlink or hard link to an input is one
  too.

Example:
    >>> check_output_file(args.out, 'out', [args.config, args.checkpoint],
    ...                   example='model.pth')
"""
import os
import os.path as osp
from typing import Dict, Iterable, Optional, Tuple

from ..errors import UserInputError

FileId = Tuple[int, int]


def file_id(path: str) -> Optional[FileId]:
    """``(device, inode)`` of an existing file (links followed), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def file_ids(paths: Iterable[str]) -> Dict[FileId, str]:
    """``{(device, inode): path}`` of those of ``paths`` that exist."""
    ids = {}
    for path in paths:
        key = file_id(path)
        if key is not None:
            ids.setdefault(key, path)
    return ids


def same_file(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` both exist and are one file."""
    key = file_id(a)
    return key is not None and key == file_id(b)


def check_output_file(path: str, what: str, inputs: Iterable[str] = (),
                      example: str = 'results.json') -> None:
    """Fail unless ``path`` can become a file that is none of ``inputs``.

    Args:
        path (str): The file the tool will write (it may exist: a previous
            output is replaced).
        what (str): How the user gave ``path`` (``'--out-json'``, ``'DST'``),
            for the message.
        inputs (Iterable[str]): Files the tool reads, or must keep (an
            export's own files); missing ones are ignored.
        example (str): A file name to suggest inside a folder.

    Raises:
        UserInputError: Naming ``path`` and what is wrong with it; nothing
            was written.
    """
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    if osp.isdir(path):
        raise UserInputError(
            f'{what} {path!r} is a directory: give a file name, e.g. '
            f'{osp.join(path, example)!r}; nothing was written')
    if path.endswith(seps):
        raise UserInputError(
            f'{what} {path!r} ends with {path[-1]!r}, so it names a '
            f'directory: give a file name, e.g. {path + example!r}')
    parent = osp.dirname(osp.abspath(path))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    if parent and not osp.isdir(parent):
        raise UserInputError(f'{what} {path!r}: {parent!r} is a file, not a '
                             'folder')
    clash = file_ids(inputs).get(file_id(path)) if osp.exists(path) else None
    if clash is not None:
        raise UserInputError(
            f'{what} {path!r} is the input file {clash!r} (the same file, '
            'through a link or not), which it would overwrite; nothing was '
            'written: choose another name')
