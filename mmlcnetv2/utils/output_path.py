# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The one check of an output file name a user gives a tool (a converted
checkpoint, a results file), before any work is done.

:func:`~mmlcnetv2.utils.atomic.atomic_file` writes beside the target and
renames: given a folder name (``newdir/``, an existing folder) or a path
under a file, the rename fails at the very end with an ``OSError``
traceback. Missing parent folders are fine (they are made).
"""
import os
import os.path as osp

from ..errors import UserInputError


def check_output_file(path: str, what: str, example: str) -> None:
    """Fail unless ``path`` can become a file.

    Args:
        path (str): The output file name.
        what (str): The argument, for the message (``'DST'``, ``'--out'``).
        example (str): A file name to suggest inside a folder
            (``'model.pth'``).

    Raises:
        UserInputError: ``path`` names a directory (it is one, or ends
            with a separator), or a parent of it is a file.
    """
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    if osp.isdir(path):
        raise UserInputError(
            f'{what} {path!r} is a directory; give a file name, e.g. '
            f'{osp.join(path, example)!r}')
    if path.endswith(seps):
        raise UserInputError(
            f'{what} {path!r} ends with {path[-1]!r}, so it names a '
            f'directory; give a file name, e.g. {path + example!r}')
    parent = osp.dirname(osp.abspath(path))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    if parent and not osp.isdir(parent):
        raise UserInputError(f'{what} {path!r}: {parent!r} is a file, not a '
                             'folder')
