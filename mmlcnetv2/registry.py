"""The ``mmlcnetv2`` registry scope.

Our modules register in mmengine's *root* ``MODELS`` (see
:mod:`mmlcnetv2.models`), so that an unscoped ``type='PPLCNetV2'`` is found
from mmpretrain's, mmdet's and mmseg's registries alike: each of them searches
its parents, never its siblings.

This child registry makes the scoped form ``type='mmlcnetv2.PPLCNetV2'`` work
without ``custom_imports``: for a scoped type, mmengine imports
``<scope>.registry`` by itself, finds the child registry whose scope is
``mmlcnetv2``, and that registry imports its ``locations`` on first use.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='mmlcnetv2',
    locations=['mmlcnetv2.models'])
