# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Config loading, model building, and getting a built model ready for
export (re-parameterized, SyncBN reverted, pooling as ``ReduceMean``), for
Python users and the tools alike."""
import copy
import importlib
import os.path as osp
from typing import List, Optional

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction  # noqa: F401  (re-export)
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from ..errors import CheckpointMismatchError, UserInputError
from ..extras import explain_config_error, require_for_config
from ..utils.safe_load import read_checkpoint


# What mmengine's Config.fromfile reads.
CONFIG_EXTENSIONS = ('.py', '.json', '.yaml', '.yml')
# What evaluating a broken config file raises (a misspelt name, a bad
# _base_ variable, ...), besides SyntaxError.
_CONFIG_CODE_ERRORS = (NameError, TypeError, ValueError, KeyError,
                       AttributeError, IndexError)


def _syntax_error_line(error: SyntaxError) -> str:
    """``line N: message`` of the first SyntaxError in ``error``'s chain
    that has a line (mmengine re-raises ast's with the text only)."""
    seen: Optional[BaseException] = error
    while seen is not None:
        if isinstance(seen, SyntaxError) and seen.lineno:
            return f'line {seen.lineno}: {seen.msg}'
        seen = seen.__cause__ or seen.__context__
    return str(error).splitlines()[0]


def _read_with(path: str, values: dict) -> Config:
    """``path`` read with the config variables ``values`` set (the file
    has been read once already: no error handling)."""
    from .config_vars import variables_set
    with variables_set(values):
        return Config.fromfile(path)


def load_config(path: str, cfg_options: Optional[dict] = None,
                merge: bool = True) -> Config:
    """Load a config, failing early and clearly on a bad path or file.

    A ``--cfg-options`` key without a dot that the config assigns (a
    variable such as ``pretrained``, ``classes``, ``data_root``,
    ``num_classes``) is applied while the config is read, so that every
    setting computed from it follows; a key into a variable
    (``metainfo.classes``) is refused (:mod:`.config_vars`).

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        merge (bool): Also merge ``cfg_options`` into the loaded config
            (False: the caller merges, e.g. after checking the keys).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UserInputError: ``path`` is a folder or not a config file (a
            checkpoint given in its place), or it does not evaluate (a
            syntax error, an undefined name), named with the line.
        MissingExtraError: The config needs mmdet or mmseg, which is not
            installed (names the extra to install).
    """
    if osp.isdir(path):
        raise UserInputError(f'config {path!r} is a folder, not a config '
                             f'file ({", ".join(CONFIG_EXTENSIONS)})')
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: {path!r}')
    if not path.lower().endswith(CONFIG_EXTENSIONS):
        raise UserInputError(
            f'config {path!r} is not a config file: it must end with '
            f'{", ".join(CONFIG_EXTENSIONS)} (the checkpoint comes after '
            'the config)')
    from .config_vars import (check_variable_options, check_variables_used,
                              variable_options, variables_set)
    try:
        with variables_set(variable_options(cfg_options)) as applied:
            cfg = Config.fromfile(path)
    except ImportError as e:  # e.g. an mmdet:: base without mmdet
        explain_config_error(path, e)
        raise
    except SyntaxError as e:
        raise UserInputError(f'config {path!r} is not valid Python: '
                             f'{_syntax_error_line(e)}') from None
    except _CONFIG_CODE_ERRORS as e:
        raise UserInputError(f'config {path!r} cannot be read: '
                             f'{type(e).__name__}: {e}') from None
    require_for_config(cfg, path)
    check_variable_options(cfg, cfg_options, applied)
    check_variables_used(lambda values: _read_with(path, values), cfg,
                         cfg_options)
    if cfg_options and merge:
        cfg.merge_from_dict(cfg_options)
    return cfg


# The OpenMMLab packages whose configs we build (``default_scope``).
SCOPES = ('mmpretrain', 'mmdet', 'mmseg')


def register_scope(cfg: Config) -> None:
    """Register the modules of the config's OpenMMLab package (mmdet, ...).

    Building from mmengine's root registry only finds a scope's modules
    once that package has registered them.

    Example:
        >>> register_scope(Config(dict(default_scope='mmdet')))
    """
    scope = cfg.get('default_scope', None)
    if scope in SCOPES:
        importlib.import_module(f'{scope}.utils').register_all_modules(
            init_default_scope=False)


def build_model(cfg: Config,
                checkpoint: Optional[str] = None,
                device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in the config's default scope, in eval mode.

    Works for classifiers, detectors and segmentors alike: each config
    carries its own ``default_scope`` and ``custom_imports``.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        UnreadableCheckpointError: ``checkpoint`` is a folder, or an empty,
            truncated or foreign file
            (:func:`~mmlcnetv2.utils.safe_load.read_checkpoint`).
        UnsafeCheckpointError: safe loading refused ``checkpoint``.
        CheckpointMismatchError: ``checkpoint`` does not fit the model (a
            RuntimeError; one line, strict loading's message shortened).
        MissingExtraError: The config needs mmdet or mmseg, which is not
            installed.
    """
    require_for_config(cfg, cfg.filename or 'the config')
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = copy.deepcopy(cfg.model)
    # mmpretrain configs keep the normalization in a top-level
    # data_preprocessor, which its Runner hands to the model.
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        # mmengine's load_checkpoint in two steps, so that a file that
        # cannot be read is not reported as one that does not fit.
        from mmengine.runner.checkpoint import _load_checkpoint_to_model
        loaded = read_checkpoint(checkpoint)
        try:
            _load_checkpoint_to_model(model, loaded, strict=True)
        except RuntimeError as e:
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint!r} does not fit the model: '
                f'{_one_line(e)}') from e
    return model.to(device).eval()


def reparameterizable(model: nn.Module) -> List[nn.Module]:
    """The modules of ``model`` that have ``switch_to_deploy()``, outermost
    first."""
    return [m for m in model.modules() if hasattr(m, 'switch_to_deploy')]


def _one_line(error: BaseException, limit: int = 600) -> str:
    """``error``'s message on one line, cut after ``limit`` characters
    (strict loading lists every missing key of a model)."""
    text = ' '.join(str(error).split())
    return text if len(text) <= limit else text[:limit] + ' ...'


def reparameterize(model: nn.Module) -> int:
    """Call ``switch_to_deploy()`` on every module that has one.

    SyncBN must be reverted first (``mmengine.model.revert_sync_batchnorm``).

    Returns:
        int: How many modules were switched.
    """
    targets = reparameterizable(model)
    # Outermost first; a backbone's switch_to_deploy covers its blocks, and
    # the blocks' own are idempotent.
    for module in targets:
        module.switch_to_deploy()
    return len(targets)


class GlobalMean(nn.Module):
    """``x.mean((2, 3), keepdim=...)``: global average pooling as ReduceMean.

    Example:
        >>> GlobalMean(keepdim=False)(torch.ones(2, 8, 5, 7)).shape
        torch.Size([2, 8])
    """

    def __init__(self, keepdim: bool = True) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3), keepdim=self.keepdim)


def use_mean_pooling(model: nn.Module) -> int:
    """Replace every ``AdaptiveAvgPool2d(1)`` by :class:`GlobalMean` in place.

    Numerically the same (both average all pixels); the graph is leaner:
    OpenVINO's CPU plugin fuses an SE block (reduce-mean, 1x1 convs,
    sigmoid, multiply) into one ``Subgraph`` only when the pooling is a
    plain ``ReduceMean``, and ``AdaptiveAvgPool2d(1)`` does not convert to
    one.

    Returns:
        int: How many pooling layers were replaced.
    """
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.AdaptiveAvgPool2d) and \
                    child.output_size in (1, (1, 1)):
                setattr(parent, name, GlobalMean(keepdim=True))
                count += 1
    return count


def prepare_for_export(model: nn.Module) -> nn.Module:
    """A built model as it is exported: SyncBN reverted to BN,
    re-parameterized (``switch_to_deploy``), pooling as ``ReduceMean``
    (:func:`use_mean_pooling`), in eval mode.

    The one sequence ``tools/deploy.py``, ``tools/reparameterize.py`` and
    the benchmark's fused models go through. The state dict keeps its keys
    apart from the fused branches (pooling has no parameters), so a
    prepared model saves the checkpoint of the config's deploy variant.

    Args:
        model (nn.Module): A built model (see :func:`build_model`).

    Returns:
        nn.Module: ``model`` changed in place (or, if it holds SyncBN, the
        copy ``revert_sync_batchnorm`` makes).

    Example:
        >>> model = prepare_for_export(build_model(cfg, ckpt))  # doctest: +SKIP
    """
    model = revert_sync_batchnorm(model)
    reparameterize(model)
    use_mean_pooling(model)
    return model.eval()
