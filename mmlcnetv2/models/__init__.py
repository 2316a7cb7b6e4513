"""Models. Importing this registers them in mmengine's root ``MODELS``."""
from .backbones import PPLCNetV2
from .dense_heads import PicoHead
from .heads import PPLCNetV2Head
from .necks import LCPAN

__all__ = ['PPLCNetV2', 'PPLCNetV2Head', 'LCPAN', 'PicoHead']
