# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Config loading and model building, for Python users and the tools alike."""
import copy
import os.path as osp
from typing import Optional

import torch.nn as nn
from mmengine.config import Config, DictAction  # noqa: F401  (re-export)
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

from ..errors import CheckpointMismatchError
from ..extras import explain_config_error, require_for_config
from ..utils.safe_load import explain_refusal


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Load a config, failing early and clearly on a bad path.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): ``--cfg-options`` overrides.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        MissingExtraError: The config needs mmdet or mmseg, which is not
            installed (names the extra to install).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: {path!r}')
    try:
        cfg = Config.fromfile(path)
    except ImportError as e:  # e.g. an mmdet:: base without mmdet
        explain_config_error(path, e)
        raise
    require_for_config(cfg, path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_model(cfg: Config,
                checkpoint: Optional[str] = None,
                device: str = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in the config's default scope, in eval mode.

    Works for classifiers, detectors and segmentors alike: each config
    carries its own ``default_scope`` and ``custom_imports``.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
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
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'Checkpoint not found: {checkpoint!r}')
        with explain_refusal(checkpoint):
            try:
                load_checkpoint(model, checkpoint, map_location='cpu',
                                strict=True)
            except RuntimeError as e:
                raise CheckpointMismatchError(
                    f'checkpoint {checkpoint!r} does not fit the model: '
                    f'{_one_line(e)}') from e
    return model.to(device).eval()


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
    targets = [m for m in model.modules() if hasattr(m, 'switch_to_deploy')]
    # Outermost first; a backbone's switch_to_deploy covers its blocks, and
    # the blocks' own are idempotent.
    for module in targets:
        module.switch_to_deploy()
    return len(targets)
