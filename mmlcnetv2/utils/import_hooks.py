# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Run a function right after a module is imported (a post-import hook).

``import mmlcnetv2`` must stay cheap (no torch, no mmpretrain), yet some of
its set-up concerns those modules: torch's safe-loading allowlist and
mmpretrain's ``ModelHub``. :func:`when_imported` runs that set-up when the
module is imported, or at once if it already is.

Example:
    >>> when_imported('torch', lambda: print('torch is here'))
"""
import importlib.abc
import sys
from typing import Callable, Dict, List

_pending: Dict[str, List[Callable[[], None]]] = {}


class _RunAfterExec(importlib.abc.Loader):
    """Delegates to the module's own loader, then runs the callbacks."""

    def __init__(self, loader, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        # Later readers (inspect, importlib.resources) see the real loader.
        module.__loader__ = module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        for callback in _pending.pop(self._name, []):
            callback()

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader the other finders return for
    a module that has callbacks pending."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader,
                                                       'exec_module'):
                    spec.loader = _RunAfterExec(spec.loader, fullname)
                return spec
        return None


_finder = _Finder()


def when_imported(name: str, callback: Callable[[], None]) -> None:
    """Call ``callback()`` once module ``name`` is imported.

    At once if it already is; otherwise right after its import finishes
    (an exception in ``callback`` then propagates from that import).
    """
    if name in sys.modules:
        callback()
        return
    _pending.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
