# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The export folder: which files of an earlier export a new one may
replace (checked before any work), and that the files just written are in
place (checked after the atomic move)."""
import os
import os.path as osp
from typing import Dict, List, Sequence

from ...errors import UserInputError
from ...utils.atomic import temp_entries
from ..manifest.schema import META_FILE, DeployFormatError, owned_files


def files_to_replace(out_dir: str, writes: Sequence[str],
                     overwrite: bool = True) -> List[str]:
    """The files of a previous export in ``out_dir`` that a new one replaces.

    ``out_dir`` may be missing, empty, or an export of ``tools/deploy.py``
    (recognised by its ``deploy.json``); only the files that export lists
    are replaced, so anything else in the folder (the pictures
    ``tools/infer.py`` draws into ``out_dir/vis``, a user's notes) stays.

    Args:
        out_dir (str): The output folder.
        writes (Sequence[str]): The file names the new export writes.
        overwrite (bool): Allow replacing a previous export.

    Raises:
        UserInputError: ``out_dir`` is a file, a non-empty folder that is not
            an export, or holds a file of its own under a name the export
            writes. Nothing is changed.
        FileExistsError: ``out_dir`` is an export and ``overwrite`` is False.
    """
    if not osp.lexists(out_dir):
        return []
    if not osp.isdir(out_dir):
        raise UserInputError(f'Output folder {out_dir!r} is a file, not a '
                             'folder; nothing was written')
    # Our temporary files (a killed run's, which atomic_update cleans, or a
    # live run's) do not count; a user's of a look-alike name does.
    ours = temp_entries(out_dir)
    entries = [e for e in os.listdir(out_dir) if e not in ours]
    if not entries:
        return []
    try:
        owned = owned_files(out_dir)
    except DeployFormatError as e:
        raise UserInputError(
            f'Output folder {out_dir!r} is not empty and is not an export of '
            f'tools/deploy.py ({e}); nothing was written: choose a new or '
            'empty folder') from None
    if not overwrite:
        raise FileExistsError(f'{out_dir!r} holds an export already')
    clash = sorted(n for n in writes if n in entries and n not in owned)
    if clash:
        raise UserInputError(
            f'Output folder {out_dir!r}: {clash[0]!r} there is not one of the '
            f'files its {META_FILE} lists, and the export would overwrite it; '
            'nothing was written')
    return owned


def check_in_place(out_dir: str, sizes: Dict[str, int]) -> None:
    """Fail unless every file of the export just written is in ``out_dir``
    with the size it was written with: another process may have removed or
    replaced one meanwhile, and an export missing ``model.bin`` must not be
    reported as written.

    Args:
        out_dir (str): The export folder.
        sizes (dict[str, int]): The size of each file written.

    Raises:
        RuntimeError: naming the folder and the first missing or changed
            file.
    """
    for name, size in sorted(sizes.items(), key=lambda kv: kv[0] == META_FILE):
        path = osp.join(out_dir, name)
        if not osp.isfile(path):
            why = 'is missing'
        elif osp.getsize(path) != size:
            why = f'has {osp.getsize(path)} bytes, not the {size} written'
        else:
            continue
        raise RuntimeError(
            f'Export {out_dir!r} is incomplete: {name!r} {why} after it was '
            'written (removed or replaced by another process?); do not use '
            'this folder, export again')
