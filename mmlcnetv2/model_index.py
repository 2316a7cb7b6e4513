# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Where our configs and model index are, for mmengine and mmpretrain.

After ``import mmlcnetv2`` (whose :mod:`mmlcnetv2.compat` registers the
``mmlcnetv2::`` prefix, and our index once ``mmpretrain.apis.model`` is
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


# Where the index's ``Weights`` (PaddleClas's ``.pdparams``) and the
# configs' backbone weights are published: URL prefix -> publisher.
# ``get_model(name, pretrained=True)`` downloads such a URL once into
# torch.hub's cache and converts it while loading
# (:func:`mmlcnetv2.compat.register_weights_scheme`); any other URL is left
# to mmengine.
PUBLISHED_WEIGHTS = {
    'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/'
    'legendary_models/PPLCNetV2_': 'PaddleClas',
    'https://paddle-model-ecology.bj.bcebos.com/paddlex/'
    'official_pretrained_model/PP-LCNetV2_': 'PaddleX',
}
