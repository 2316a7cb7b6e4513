# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The export phase "load": the config's model with the checkpoint,
prepared for export (SyncBN reverted, branches fused, mean pooling)."""
from typing import Optional, Tuple

import torch
from mmengine.config import Config

from ...apis.build import (build_model, load_config, prepare_for_export,
                           register_scope)
from ..tasks import task_of


def load_for_export(config: str, checkpoint: Optional[str],
                    cfg_options: Optional[dict] = None
                    ) -> Tuple[Config, torch.nn.Module, str]:
    """Build the config's model with the checkpoint, fused, in eval mode.

    Raises:
        RuntimeError: the checkpoint does not fit the config (names the
            config and checkpoint; strict loading's message follows).
    """
    from ...cli.checks import check_model_config
    cfg = load_config(config, cfg_options)
    task = task_of(cfg)
    register_scope(cfg)
    check_model_config(cfg)  # as train.py: one line for a bad value
    # No pretrained-backbone download/load at export: the checkpoint has it.
    backbone = cfg.model.get('backbone', None)
    if backbone is not None and backbone.get('init_cfg', None) is not None:
        backbone['init_cfg'] = None
    try:
        model = build_model(cfg, checkpoint)
    except RuntimeError as e:
        raise RuntimeError(
            f'Checkpoint {checkpoint!r} does not match config {config!r} '
            f'(wrong config, or a fused checkpoint for an unfused config?): '
            f'{e}') from e
    return cfg, prepare_for_export(model), task
