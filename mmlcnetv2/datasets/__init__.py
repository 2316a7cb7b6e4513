"""Data checks. Importing this registers them in mmengine's root
``TRANSFORMS`` (so ``type='CheckSegMap'`` works from mmseg configs)."""
from .transforms import CheckSegMap

__all__ = ['CheckSegMap']
