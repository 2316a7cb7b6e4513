# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Every change this package makes to its dependencies, in one place.

``import mmlcnetv2`` calls :func:`install`; nothing else in the package
changes a dependency (registering our modules in mmengine's registries is
mmengine's own way, not a patch). Each patch below says what upstream behaviour it
works around, for which upstream version it was written, and how to remove
it. All are idempotent (a second ``install()`` changes nothing) and none
imports torch, mmcv or mmpretrain itself: the ones that concern those run
when the user's code imports them (:func:`when_imported`).

The patches (upstream, version; when applied):

- registry first miss: mmengine 0.10.7 ``Registry``; ``install()``;
- ``mmlcnetv2::`` config bases: mmengine 0.10.7 ``Config``; ``install()``;
- safe-load allowlist: torch >= 2.6 with mmengine 0.10.7 checkpoints; when
  torch is imported;
- atomic local writes: mmengine 0.10.7 ``LocalBackend``; ``install()``;
- one line of init_weights summary: mmengine 0.10.7
  ``BaseModule._dump_init_info``; when mmengine's BaseModule is imported;
- ModelHub index: mmpretrain 1.2.0 ``ModelHub``; when mmpretrain is
  imported;
- known-harmless warnings: OpenVINO 2024+, mmdet 3.3.0; by
  ``tools/deploy.py`` (not at import).

Example:
    >>> import mmlcnetv2  # calls mmlcnetv2.compat.install()
    >>> from mmlcnetv2.compat import when_imported
    >>> when_imported('torch', lambda: print('torch is here'))
"""
import importlib
import importlib.abc
import os.path as osp
import sys
import warnings
from typing import Callable, Dict, List, Tuple, Type


def install() -> None:
    """Apply every import-time patch (idempotent; ``import mmlcnetv2``)."""
    from .utils.safe_load import allow_mmengine_checkpoints
    register_on_first_miss()
    register_config_package()
    register_atomic_local_backend()
    when_imported('torch', allow_mmengine_checkpoints)
    when_imported('mmengine.model.base_module', summarize_init_info)
    when_imported('mmpretrain.apis.model', register_model_index)


# ------------------------------------------------------ post-import hooks
# Not a patch, the mechanism of two: ``import mmlcnetv2`` must stay cheap (no
# torch, no mmpretrain), yet the safe-loading allowlist and the ModelHub
# index concern those modules. A finder at the front of ``sys.meta_path``
# wraps the loader of a module that has callbacks pending and runs them
# right after the module is executed. Python has no public post-import hook
# (PEP 369 was withdrawn); remove this with the last patch that uses it.
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

    Example:
        >>> when_imported('torch', lambda: print('torch is here'))
    """
    if name in sys.modules:
        callback()
        return
    _pending.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


# ----------------------------------------------------- registry first miss
# Upstream: mmengine 0.10.7's root registries (``mmengine.registry.MODELS``,
# TRANSFORMS, HOOKS, OPTIM_WRAPPERS) have no ``locations``: a module
# registered there is found only once its package was imported, and
# ``custom_imports=['mmlcnetv2.models']`` would cost every tool's ``--help``
# the import of torch, mmcv and mmpretrain (5-9 s). Our modules register in
# the root registries so that mmpretrain's, mmdet's and mmseg's registries
# (which search their parents, never their siblings) all see them.
# The patch: the first time a name is not found in one of those registries,
# import the package of ours that registers there
# (:data:`mmlcnetv2.registry.PACKAGES`) and look again.
# Remove: when mmengine's root registries take ``locations`` (or lazy
# registration), give them ours and delete this function and its call.
def register_on_first_miss() -> None:
    """Patch ``Registry.get`` to import our modules on a registry's first
    miss (idempotent)."""
    from mmengine.registry import Registry

    from .registry import PACKAGES
    original = Registry.get
    if getattr(original, '_mmlcnetv2', False):
        return
    imported = set()

    def get(self, key):
        found = original(self, key)
        package = PACKAGES.get(self.name)
        if found is None and package is not None and package not in imported:
            imported.add(package)
            importlib.import_module(package)
            found = original(self, key)
        return found

    get._mmlcnetv2 = True
    get.__doc__ = original.__doc__
    Registry.get = get


# ---------------------------------------------------- mmlcnetv2:: configs
# Upstream: mmengine 0.10.7 accepts ``pkg::path`` config bases only for the
# packages in ``mmengine.config.utils.MODULE2PACKAGE``; it would then
# (a) find the package with pkg_resources, which points into site-packages
# even for an editable install, and (b) tag every dict of the base with
# ``_scope_='mmlcnetv2'``, so that ``type='ImageClassifier'`` (or mmdet's
# ``FPN``) would be looked up in our registry, which does not hold them.
# The patch: our name goes into the table, and ``Config._get_cfg_path``
# resolves ``mmlcnetv2::`` itself (:func:`mmlcnetv2.model_index.
# resolve_config`) and returns no scope: our configs are written for their
# own ``default_scope``, exactly as when they are loaded by path.
# Remove: when mmengine lets a package register its config root and scope
# (no such API up to 0.10.7); then delete this function and its call.
def register_config_package() -> None:
    """Let mmengine resolve ``mmlcnetv2::path`` config bases (idempotent)."""
    from mmengine.config import Config
    from mmengine.config import utils as config_utils

    from .model_index import PACKAGE, resolve_config
    config_utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    original = Config._get_cfg_path
    if getattr(original, '_mmlcnetv2', False):
        return

    def _get_cfg_path(cfg_path: str, filename: str):
        package, sep, relpath = cfg_path.partition('::')
        if sep and package == PACKAGE:
            return resolve_config(relpath), None
        return original(cfg_path, filename)

    _get_cfg_path._mmlcnetv2 = True
    Config._get_cfg_path = staticmethod(_get_cfg_path)


# ---------------------------------------------------- safe-load allowlist
# Runner checkpoints under torch's safe loading: the allowlist and why it is
# needed are in :mod:`mmlcnetv2.utils.safe_load` (with the other rules of
# safe loading); :func:`install` adds it when torch is imported.


# ---------------------------------------------------- atomic local writes
# Upstream: mmengine 0.10.7's ``LocalBackend.put`` (which
# ``Runner.save_checkpoint`` writes every checkpoint with) opens the final
# name and writes: a run killed while saving leaves a truncated
# ``epoch_N.pth`` there, which ``--resume`` then picks.
# The patch: mmengine's own backend registry (``register_backend``, with
# ``force``) maps the ``local`` backend and the empty prefix to
# :class:`mmlcnetv2.utils.atomic_backend.AtomicLocalBackend`, which writes
# under a temporary name, fsyncs and renames; every local ``put`` through
# mmengine's file I/O (checkpoints, ``mmengine.dump``) becomes atomic.
# Remove: when mmengine writes local files atomically; delete this function
# and its call, then run tests/test_resume_train.py, which must still pass.
def register_atomic_local_backend() -> None:
    """Make mmengine's local file backend write atomically (idempotent)."""
    from mmengine.fileio import register_backend
    from mmengine.fileio.backends.registry_utils import backends

    from .utils.atomic_backend import AtomicLocalBackend
    if backends.get('local') is not AtomicLocalBackend:
        register_backend('local', AtomicLocalBackend, force=True,
                         prefixes='')


# ------------------------------------------------ init_weights summary
# Upstream: mmengine 0.10.7's ``BaseModule.init_weights`` ends with
# ``_dump_init_info``, which logs one three-line entry per parameter (330
# for a PP-LCNetV2 classifier: mostly "The value is the same before and
# after calling `init_weights`"), on the console when the logger has no
# file, else into the log file.
# The patch: one line instead, the parameters counted per way they were
# initialised (mmengine's own descriptions, e.g. "NormalInit: mean=0,
# std=0.01"; ``init_cfg`` Pretrained loading of our backbone describes its
# tensors as "loaded from FILE", see :mod:`mmlcnetv2.converters.pretrained`).
# Remove: when mmengine summarises (or makes the dump optional); delete
# this function and its ``when_imported`` call.
def _init_info_summary(module) -> str:
    """``init_weights of NAME (N tensors): n1 WAY1; n2 WAY2; ...``."""
    counts: Dict[str, int] = {}
    total = 0
    for _, param in module.named_parameters():
        info = module._params_init_info[param]['init_info'].strip()
        if info.startswith('The value is the same before and after'):
            info = 'unchanged (as constructed)'
        counts[info] = counts.get(info, 0) + 1
        total += 1
    ways = sorted(counts.items(), key=lambda kv: -kv[1])
    return (f'init_weights of {type(module).__name__} ({total} tensors): '
            + '; '.join(f'{n} {info}' for info, n in ways))


def summarize_init_info() -> None:
    """Replace ``BaseModule._dump_init_info`` by a one-line summary
    (idempotent)."""
    from mmengine.dist import master_only
    from mmengine.logging import MMLogger
    from mmengine.model.base_module import BaseModule
    if getattr(BaseModule._dump_init_info, '_mmlcnetv2', False):
        return

    @master_only
    def _dump_init_info(self) -> None:
        MMLogger.get_current_instance().info(_init_info_summary(self))

    _dump_init_info._mmlcnetv2 = True
    BaseModule._dump_init_info = _dump_init_info


# --------------------------------------------------------- ModelHub index
# Upstream: mmpretrain 1.2.0's ``get_model``/``list_models`` know only the
# models of mmpretrain's own index; ``ModelHub.register_model_index`` is its
# public way to add one (not a patch). Our index's ``Weights`` are
# PaddleClas's published ``.pdparams`` URLs, which mmengine 0.10.7's http
# loader would hand to ``torch.load`` (it cannot read them); mmengine's
# ``CheckpointLoader.register_scheme`` (its public API; the longest prefix
# wins over its own ``https://``) routes exactly those URL prefixes
# (:data:`mmlcnetv2.model_index.PUBLISHED_WEIGHTS`) to our download cache
# and converter, so ``get_model(name, pretrained=True)`` (and ``load_from``
# with such a URL) gets the converted classifier. Other URLs stay
# mmengine's. The index registration stays as long as mmpretrain's
# ModelHub is how users find models.
def register_model_index() -> bool:
    """Register our model index in mmpretrain's ``ModelHub`` (idempotent).

    Returns:
        bool: False if there is no config directory to point the index to.
    """
    from mmpretrain.apis.model import ModelHub

    from .converters.published import register_weights_scheme
    from .model_index import PACKAGE_DIR, configs_root
    register_weights_scheme()  # the index's Weights entries need it
    root = configs_root()
    if root is None:
        return False
    index = osp.join(PACKAGE_DIR, 'model-index.yml')
    if not ModelHub.has('pplcnetv2-base_8xb256_in1k'):
        ModelHub.register_model_index(index, config_prefix=root)
    return True


# ------------------------------------------------ known-harmless warnings
# Not applied at import: ``tools/deploy.py`` calls it (an export printed
# seven distinct warnings). Only noise we checked is listed, each with why
# it is harmless. Warnings that can mean a wrong export stay visible:
# mmdet's ``TracerWarning``s (a shape value frozen into a static graph) and
# torch's "traced function does not match" check.
# Remove an entry when its upstream stops warning (upgrade, then export a
# detector with ``-W error::FutureWarning`` to see which are left).
KNOWN_HARMLESS: Tuple[Tuple[Type[Warning], str, str], ...] = (
    # OpenVINO's PyTorch frontend (ov.convert_model, 2024+) traces with
    # TorchScript by itself, which the torch of our stack (2.14) deprecates;
    # which tracer it uses is not ours to choose.
    (FutureWarning,
     r'`torch\.jit\.(trace|trace_method|script)` is deprecated', 'openvino'),
    # torch.jit's scan for @torch.jit.export methods reads every attribute
    # of every module, including mmdet 3.3.0's deprecated aliases of
    # AnchorHead; no code of ours or of the config uses them.
    (UserWarning, r'DeprecationWarning: (`num_anchors`|anchor_generator) is '
     r'deprecated', 'torch.jit attribute scan of mmdet heads'),
)


def ignore_known_upstream_warnings() -> None:
    """Add ``ignore`` filters for :data:`KNOWN_HARMLESS` (idempotent)."""
    for category, message, _why in KNOWN_HARMLESS:
        warnings.filterwarnings('ignore', message=message, category=category)
