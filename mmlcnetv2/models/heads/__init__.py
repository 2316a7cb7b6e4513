from .pplcnetv2_head import PPLCNetV2Head

__all__ = ['PPLCNetV2Head']
