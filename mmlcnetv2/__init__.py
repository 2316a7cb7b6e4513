"""PP-LCNetV2 for OpenMMLab: backbone, heads, Paddle weight converter, export.

Importing the package is cheap (mmengine's config and registry only) and
makes our modules known without importing them:

- the first lookup that misses in an mmengine registry (root, mmpretrain,
  mmdet, mmseg, ...) imports ours and looks again, so ``type='PPLCNetV2'``
  resolves from any scope (:mod:`mmlcnetv2.registry`);
- ``mmlcnetv2::`` config bases resolve, and mmpretrain's ``ModelHub`` knows
  our models once mmpretrain is imported (:mod:`mmlcnetv2.model_index`);
- mmengine Runner checkpoints load under torch's safe ``weights_only``
  loading once torch is imported (:mod:`mmlcnetv2.utils.safe_load`).
"""
from .version import __version__


def _allow_mmengine_checkpoints() -> None:
    from .utils.safe_load import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()


def _setup() -> None:
    from .model_index import register_config_package, register_model_index
    from .registry import register_on_first_miss
    from .utils.import_hooks import when_imported
    register_on_first_miss()
    register_config_package()
    when_imported('torch', _allow_mmengine_checkpoints)
    when_imported('mmpretrain.apis.model', register_model_index)


_setup()

__all__ = ['__version__']
