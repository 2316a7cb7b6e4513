from .pplcnetv2 import PPLCNetV2

__all__ = ['PPLCNetV2']
