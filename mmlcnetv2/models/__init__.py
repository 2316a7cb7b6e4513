"""Models. Importing this registers them in mmengine's root ``MODELS``.

The backbone and the classification head need mmpretrain only. The
detection modules register when mmdet is installed, the segmentation head
when mmseg is; without it a placeholder is registered under the name, which
raises :class:`~mmlcnetv2.errors.MissingExtraError` naming the extra to
install when it is built (:mod:`mmlcnetv2.extras`).
"""
from mmengine.registry import MODELS

from ..extras import MODULES, installed, missing_message
from .backbones import PPLCNetV2
from .heads import PPLCNetV2Head

__all__ = ['PPLCNetV2', 'PPLCNetV2Head']

if installed('mmdet'):
    from .dense_heads import PicoHead  # noqa: F401
    from .necks import LCPAN  # noqa: F401
    __all__ += ['LCPAN', 'PicoHead']
if installed('mmseg'):
    from .heads.lraspp_head import GlobalPoolLRASPPHead  # noqa: F401
    __all__ += ['GlobalPoolLRASPPHead']


def _placeholder(name: str, package: str):
    """Registered as ``name`` when ``package`` is missing: building it says
    which extra to install instead of "not in the registry"."""

    def build(*args, **kwargs):
        from ..errors import MissingExtraError
        raise MissingExtraError(missing_message(package, name), package)

    build.__name__ = build.__qualname__ = name
    return build


for _name, _package in MODULES.items():
    if _name not in __all__:
        MODELS.register_module(name=_name, module=_placeholder(_name,
                                                               _package))
