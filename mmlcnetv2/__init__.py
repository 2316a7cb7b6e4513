"""PP-LCNetV2 for OpenMMLab: backbone, heads, Paddle weight converter, export.

Importing the package is cheap (mmengine's config and registry only) and
makes our modules known without importing them; every change it makes to
its dependencies is in :mod:`mmlcnetv2.compat` (what, why, how to remove):

- the first lookup that misses in an mmengine registry (root, mmpretrain,
  mmdet, mmseg, ...) imports ours and looks again, so ``type='PPLCNetV2'``
  resolves from any scope;
- ``mmlcnetv2::`` config bases resolve, and mmpretrain's ``ModelHub`` knows
  our models once mmpretrain is imported;
- mmengine Runner checkpoints load under torch's safe ``weights_only``
  loading once torch is imported.
"""
from .compat import install as _install
from .version import __version__

_install()

__all__ = ['__version__']
