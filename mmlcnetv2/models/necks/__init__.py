from .lcpan import LCPAN

__all__ = ['LCPAN']
