# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Make our configs and models known to mmengine and mmpretrain.

After ``import mmlcnetv2`` (which calls :func:`register_config_package`,
and :func:`register_model_index` once ``mmpretrain.apis.model`` is
imported):

- ``_base_ = 'mmlcnetv2::cls/pplcnetv2-base_8xb256_in1k.py'`` resolves in any
  config file, as ``mmpretrain::``/``mmdet::`` bases do. mmengine accepts only
  the packages in its ``MODULE2PACKAGE`` table, so we add ours, and it looks
  for configs under ``<package>/.mim/configs`` (shipped by ``setup.py``);
- ``mmpretrain.get_model('pplcnetv2-base_8xb256_in1k')`` works: our
  ``model-index.yml`` is registered in mmpretrain's ``ModelHub``.

Example:
    >>> import mmlcnetv2  # noqa: F401
    >>> from mmengine.config import Config
    >>> cfg = Config.fromfile('my_project/my_config.py')  # uses mmlcnetv2::
    >>> import mmpretrain
    >>> model = mmpretrain.get_model('pplcnetv2-base_8xb256_in1k')
"""
import os
import os.path as osp
from typing import Optional

PACKAGE = 'mmlcnetv2'
PACKAGE_DIR = osp.dirname(osp.abspath(__file__))


def configs_root() -> Optional[str]:
    """The directory that holds ``configs/`` (and, installed, the index).

    ``mmlcnetv2/.mim`` when set up by ``setup.py``; the source checkout's
    root when run from the checkout without installing.
    """
    for root in (osp.join(PACKAGE_DIR, '.mim'), osp.dirname(PACKAGE_DIR)):
        if osp.isdir(osp.join(root, 'configs', 'cls')):
            return root
    return None


def resolve_config(relpath: str) -> str:
    """The file that ``mmlcnetv2::<relpath>`` names.

    Raises:
        FileNotFoundError: Naming the path and the configs there are.
    """
    root = configs_root()
    if root is None:
        raise FileNotFoundError(
            f'mmlcnetv2::{relpath}: the package has no configs (looked in '
            f'{osp.join(PACKAGE_DIR, ".mim", "configs")}); reinstall '
            'mmlcnetv2 with pip so that setup.py ships them')
    path = osp.join(root, 'configs', relpath)
    if not osp.isfile(path):
        configs = osp.join(root, 'configs')
        available = sorted(
            osp.relpath(osp.join(d, f), configs)
            for d, _, files in os.walk(configs) for f in files
            if f.endswith('.py') and '_base_' not in d)
        raise FileNotFoundError(
            f'mmlcnetv2::{relpath}: no such config; available: '
            f'{", ".join(available)}')
    return path


def register_config_package() -> None:
    """Let mmengine resolve ``mmlcnetv2::path`` config bases.

    mmengine accepts ``pkg::`` only for the packages in its ``MODULE2PACKAGE``
    table, so we add ours. It would then (a) look the package up with
    pkg_resources, which points into site-packages even for an editable
    install, and (b) tag every dict of the base with ``_scope_='mmlcnetv2'``,
    so that ``type='ImageClassifier'`` (or mmdet's ``FPN``) would be looked up
    in our registry, which does not hold them. Our configs are written for
    their own ``default_scope`` (mmpretrain, mmdet, mmseg), exactly as when
    they are loaded by path, so for our package we resolve the path
    ourselves and return no scope.
    """
    from mmengine.config import Config
    from mmengine.config import utils as config_utils
    config_utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    original = Config._get_cfg_path
    if getattr(original, '_mmlcnetv2', False):
        return

    def _get_cfg_path(cfg_path: str, filename: str):
        package, sep, relpath = cfg_path.partition('::')
        if sep and package == PACKAGE:
            return resolve_config(relpath), None
        return original(cfg_path, filename)

    _get_cfg_path._mmlcnetv2 = True
    Config._get_cfg_path = staticmethod(_get_cfg_path)


# The scheme of the index's ``Weights`` entries. Nothing can be downloaded:
# ``get_model(name, pretrained=True)`` raises an error saying how to convert
# weights locally (mmpretrain would otherwise only warn and return random
# weights); ``pretrained='path.pth'`` loads the converted file.
NO_DOWNLOAD_SCHEME = 'mmlcnetv2-local://'


def _refuse_download(filename: str, map_location=None):
    name = filename[len(NO_DOWNLOAD_SCHEME):]
    arch = name.split('_')[0].replace('pplcnetv2-', '')
    raise FileNotFoundError(
        f'{name}: mmlcnetv2 has no downloadable weights. Convert a '
        f'PaddleClas or timm / Hugging Face file with `python '
        f'tools/convert_weights.py FILE pplcnetv2-{arch}.pth --arch {arch}` '
        f'and pass pretrained=\'pplcnetv2-{arch}.pth\' (see the README\'s '
        '"Weights" section).')


def register_no_download_scheme() -> None:
    """Make our index's ``Weights`` entries raise :func:`_refuse_download`
    (mmengine's ``CheckpointLoader``; idempotent)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        NO_DOWNLOAD_SCHEME, _refuse_download, force=True)


def register_model_index() -> bool:
    """Register our model index in mmpretrain's ``ModelHub`` (idempotent).

    Returns:
        bool: False if there is no config directory to point the index to.
    """
    from mmpretrain.apis.model import ModelHub
    register_no_download_scheme()  # the index's Weights entries need it
    root = configs_root()
    if root is None:
        return False
    index = osp.join(PACKAGE_DIR, 'model-index.yml')
    if not ModelHub.has('pplcnetv2-base_8xb256_in1k'):
        ModelHub.register_model_index(index, config_prefix=root)
    return True

