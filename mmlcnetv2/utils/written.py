# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The files a tool wrote into a folder, listed there, so that a later run
replaces those and nothing else.

A tool that writes many files into a folder the user names
(``tools/infer.py --out-dir``) may replace its own earlier outputs, but
never a file it did not write, whatever its name: ``--out-dir imgs`` must
not draw over the user's ``imgs/horse.png``. The proof is a list in the
folder, :data:`MANIFEST`, of each file the tool wrote with the size and
modification time it had then: a file that is not listed, or was changed
since (by the user, by another program), is not the tool's.

Example:
    >>> written = WrittenFiles('vis', 'tools/infer.py')
    >>> written.check_replaceable(['a.jpg', 'b/c.png'], '--out-dir')
    >>> ...  # write vis/a.jpg
    >>> written.add('a.jpg')
    >>> written.save()
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional

from ..errors import UserInputError
from .atomic import atomic_file

#: The list's name in the folder.
MANIFEST = '.mmlcnetv2-outputs.json'


def _stamp(path: str) -> Optional[List[int]]:
    """``[size, mtime_ns]`` of the regular file ``path`` (a link is not
    followed), else None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not osp.isfile(path) or osp.islink(path):
        return None
    return [st.st_size, st.st_mtime_ns]


class WrittenFiles:
    """The files ``tool`` wrote into ``folder``, as its :data:`MANIFEST`
    lists them, and those this run adds.

    Args:
        folder (str): The output folder (it may not exist yet).
        tool (str): Who writes (``'tools/infer.py'``), recorded in the
            list; another tool's list is not this one's.

    Raises:
        UserInputError: ``folder`` holds a file named :data:`MANIFEST` that
            is not this tool's list (nothing is written over it).
    """

    def __init__(self, folder: str, tool: str) -> None:
        self.folder, self.tool = folder, tool
        self.path = osp.join(folder, MANIFEST)
        self._files = self._load()
        self._added: Dict[str, List[int]] = {}

    def _load(self) -> Dict[str, List[int]]:
        if not osp.lexists(self.path):
            return {}
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
        files = data.get('files') if isinstance(data, dict) else None
        if not (isinstance(files, dict) and data.get('written_by')
                == self.tool):
            raise UserInputError(
                f'{self.path!r} is not the list of the files {self.tool} '
                'wrote there, and it would replace it; nothing was written: '
                'choose another output folder')
        return files

    def owns(self, name: str) -> bool:
        """Whether ``folder/name`` is a file this tool wrote, unchanged."""
        stamp = _stamp(osp.join(self.folder, name))
        return stamp is not None and stamp in (self._files.get(name),
                                               self._added.get(name))

    def check_replaceable(self, names: Iterable[str], what: str) -> None:
        """Refuse unless each of ``names`` is missing in ``folder`` or one
        of the tool's files there.

        Raises:
            UserInputError: naming ``what`` (the option) and the first
                file that is not the tool's; nothing was written.
        """
        for name in names:
            path = osp.join(self.folder, name)
            if osp.lexists(path) and not self.owns(name):
                raise UserInputError(
                    f'{what} {self.folder!r}: {path!r} exists and was not '
                    f'written by {self.tool} (its files there are listed in '
                    f'{MANIFEST}), so it is not replaced; nothing was '
                    'written: choose another folder, or move that file away')

    def add(self, name: str) -> None:
        """Record ``folder/name``, just written by this run."""
        stamp = _stamp(osp.join(self.folder, name))
        if stamp is not None:
            self._added[name] = stamp

    def save(self) -> None:
        """Write the list: the files of this run and of the earlier ones
        (another run's too, read again now) that are still as written."""
        if not self._added:
            return
        try:
            merged = {**self._load(), **self._added}
        except UserInputError:  # replaced meanwhile: not ours to write
            return
        files = {n: s for n, s in sorted(merged.items())
                 if _stamp(osp.join(self.folder, n)) == s}
        with atomic_file(self.path) as tmp, open(tmp, 'w') as f:
            json.dump(dict(written_by=self.tool, files=files), f, indent=0)
