"""Models. Importing this registers them in mmengine's root ``MODELS``."""
from .backbones import PPLCNetV2
from .heads import PPLCNetV2Head

__all__ = ['PPLCNetV2', 'PPLCNetV2Head']
