# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Check a tool's output paths against its inputs before anything is written.

A tool that writes its result over the file it reads (``reparameterize.py
ckpt.pth ckpt.pth``, ``infer.py --out-json photo.jpg``) destroys the input
with exit status 0. "The same file" is decided by the file system (device
and inode, :func:`os.path.samefile`), so a symlink or hard link to an input
is one too.

Example:
    >>> check_output_file(args.out, [args.config, args.checkpoint], 'out')
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


def check_output_file(path: str, inputs: Iterable[str], what: str) -> None:
    """Refuse an output file that is a folder or one of ``inputs``.

    Args:
        path (str): The file the tool will write (it may exist: a previous
            output is replaced).
        inputs (Iterable[str]): Files the tool reads, or must keep (an
            export's own files); missing ones are ignored.
        what (str): How the user gave ``path`` (``'--out-json'``), for the
            message.

    Raises:
        UserInputError: Naming ``path`` and the input it would overwrite.
    """
    if osp.isdir(path):
        raise UserInputError(
            f'{what} {path!r} is a directory: give a file name, e.g. '
            f'{osp.join(path, "results.json")!r}; nothing was written')
    clash = file_ids(inputs).get(file_id(path)) if osp.exists(path) else None
    if clash is not None:
        raise UserInputError(
            f'{what} {path!r} is the input file {clash!r} (the same file, '
            'through a link or not), which it would overwrite; nothing was '
            'written: choose another name')
