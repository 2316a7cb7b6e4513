# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The optional OpenMMLab packages: what needs them, and which extra of
``setup.py`` installs them.

``import mmlcnetv2``, the backbone, the classification head, the APIs and
the mmpretrain configs need mmengine, mmcv and mmpretrain only. The
detection modules (``PicoHead``, ``LCPAN``) need mmdet, the segmentation
head (``GlobalPoolLRASPPHead``) needs mmseg; they register when their
package is installed (:mod:`mmlcnetv2.models`). Weights named by a Hugging
Face hub id need huggingface_hub (:mod:`mmlcnetv2.converters.download`). Without it, a config or a
module that needs one raises :class:`~mmlcnetv2.errors.MissingExtraError`
naming the extra to install.

Example:
    >>> from mmlcnetv2.extras import installed, require
    >>> installed('mmdet')  # True with mmlcnetv2[det] installed
    >>> require('mmseg', 'configs/seg/lraspp_lcnetv2-small_shapes-demo.py')
"""
import importlib.util
from typing import Dict

from .errors import MissingExtraError

#: Optional package -> the ``setup.py`` extra that installs it.
EXTRAS: Dict[str, str] = {'mmdet': 'det', 'mmseg': 'seg',
                          'huggingface_hub': 'hub'}

#: Our modules that need an optional package -> that package.
MODULES: Dict[str, str] = {
    'PicoHead': 'mmdet',
    'LCPAN': 'mmdet',
    'GlobalPoolLRASPPHead': 'mmseg',
}


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (without importing it).

    A package that is installed but fails to import is reported as
    installed, so that its own error is seen when it is imported.
    """
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # a finder that refuses it
        return False


def missing_message(package: str, what: str) -> str:
    """The one line for ``what`` needing ``package``, which is missing."""
    extra = EXTRAS[package]
    return (f"{what} needs {package}, which is not installed: install the "
            f"'{extra}' extra with pip install 'mmlcnetv2[{extra}]' (from a "
            f"checkout: pip install -e '.[{extra}]')")


def require(package: str, what: str) -> None:
    """Raise :class:`MissingExtraError` if ``package`` is not installed.

    Args:
        package (str): A key of :data:`EXTRAS` (``'mmdet'``, ``'mmseg'``).
        what (str): What needs it, for the message (a config path, a
            module name).
    """
    if not installed(package):
        raise MissingExtraError(missing_message(package, what), package)


def require_for_config(cfg, path: str) -> None:
    """A config whose ``default_scope`` is mmdet's or mmseg's needs it.

    Raises:
        MissingExtraError: Naming the config, its scope and the extra.
    """
    scope = cfg.get('default_scope')
    if scope in EXTRAS:
        require(scope, f'{path} (default_scope {scope!r})')


def explain_config_error(path: str, error: BaseException) -> None:
    """Raise :class:`MissingExtraError` if ``error`` (from reading config
    ``path``) comes from a missing optional package, e.g. an ``mmdet::``
    base; return otherwise."""
    for package in EXTRAS:
        if package in str(error) and not installed(package):
            raise MissingExtraError(
                missing_message(package, path), package) from None
