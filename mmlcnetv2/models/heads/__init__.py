from .lraspp_head import GlobalPoolLRASPPHead
from .pplcnetv2_head import PPLCNetV2Head

__all__ = ['GlobalPoolLRASPPHead', 'PPLCNetV2Head']
