from .pplcnetv2_head import PPLCNetV2Head

# GlobalPoolLRASPPHead (lraspp_head.py) needs mmseg: mmlcnetv2.models
# imports it when mmseg is installed.
__all__ = ['PPLCNetV2Head']
