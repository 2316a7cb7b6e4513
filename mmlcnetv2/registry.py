"""The ``mmlcnetv2`` registry scope, and registration on first lookup.

Our modules register in mmengine's *root* ``MODELS`` (see
:mod:`mmlcnetv2.models`), so that an unscoped ``type='PPLCNetV2'`` is found
from mmpretrain's, mmdet's and mmseg's registries alike: each of them searches
its parents, never its siblings.

This child registry makes the scoped form ``type='mmlcnetv2.PPLCNetV2'`` work
without ``custom_imports``: for a scoped type, mmengine imports
``<scope>.registry`` by itself, finds the child registry whose scope is
``mmlcnetv2``, and that registry imports its ``locations`` on first use.

Importing our modules means importing torch, mmcv, mmpretrain, mmdet and
mmseg (5-9 s), which ``import mmlcnetv2`` (``custom_imports``) must not cost
a tool's ``--help``. So :func:`mmlcnetv2.compat.register_on_first_miss`
makes every mmengine registry import the package of ours that registers
into it (:data:`PACKAGES`) the first time a name is not found there, then
look again: the same names resolve, in any scope, only later.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmlcnetv2',
    locations=['mmlcnetv2.models'])

# Registry name (as mmengine names its root registries) -> our package
# whose import registers there.
PACKAGES = {
    'model': 'mmlcnetv2.models',
    'transform': 'mmlcnetv2.datasets',
    'hook': 'mmlcnetv2.engine',
    'optim_wrapper': 'mmlcnetv2.engine',
    'parameter scheduler': 'mmlcnetv2.engine',
    # ``ConvertedPretrained`` (a Pretrained init_cfg of PPLCNetV2)
    'weight initializer': 'mmlcnetv2.converters.pretrained',
}
