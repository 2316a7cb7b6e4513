"""PP-LCNetV2 for OpenMMLab: backbone, heads, Paddle weight converter, export.

Importing the package registers its modules in mmengine's root ``MODELS``
(visible from mmpretrain, mmdet and mmseg) and lets mmengine Runner
checkpoints load under torch's safe ``weights_only`` loading.
"""
from .utils import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

from . import engine, models  # noqa: E402,F401  (registers the modules)
from . import datasets  # noqa: E402,F401  (registers CheckSegMap)
from . import model_index  # noqa: E402,F401  (mmlcnetv2:: bases, ModelHub)

__all__ = ['__version__']
