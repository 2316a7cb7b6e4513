# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``init_cfg=dict(type='Pretrained', ...)`` for PPLCNetV2, from any file.

mmengine's ``PretrainedInit`` reads only torch files and loads with
``strict=False``: a ``.safetensors`` file fails deep inside ``torch.load``,
a ``.pdparams`` or timm file loads *nothing* (no key matches) and training
goes on from random weights with a warning. Here the file is read by the
same converter as ``tools/convert_weights.py``, and every tensor of the
backbone must be found with its shape, or loading fails naming the file
and the first mismatches. A URL or Hugging Face hub id is fetched into the
cache first (:mod:`.download`).
"""
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.registry import WEIGHT_INITIALIZERS

from .common import BACKBONE_PREFIX, WeightsError, check_finite, first
from .convert import load_weights
from .download import fetch_weights

def _select(state: Dict[str, object], prefix: Optional[str]) -> dict:
    if not prefix:
        return dict(state)
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}


def load_pretrained(module: nn.Module, checkpoint: str,
                    prefix: Optional[str] = 'backbone.') -> List[str]:
    """Load ``checkpoint`` (PaddleClas, timm or ours) into ``module``.

    Args:
        module (nn.Module): A PPLCNetV2 backbone.
        checkpoint (str): A local file of any format the converter reads,
            or a URL or hub id of one (:func:`.download.fetch_weights`).
        prefix (str, optional): The keys to take, in our layout
            (``'backbone.'`` for a converted classifier checkpoint, and for
            PaddleClas and timm files, whose backbone keys the converter
            puts under ``backbone.``).

    Returns:
        list[str]: The keys loaded.

    Raises:
        FileNotFoundError: No such file.
        WeightsDownloadError: A URL or hub id that could not be fetched.
        WeightsError: Unreadable/unsafe file, or tensors missing or of
            another shape, naming the file and the first ones.
    """
    path = fetch_weights(checkpoint)
    try:
        weights = load_weights(path)
    except WeightsError as e:
        if path == checkpoint:
            raise
        raise WeightsError(
            f'{e} (the cached download of {checkpoint}: delete {path} to '
            'download it again)') from e
    expected = module.state_dict()
    if not prefix and not expected.keys() & weights.state.keys():
        prefix = BACKBONE_PREFIX  # the converter's layout
    state = _select(weights.state, prefix)
    if not state:
        raise WeightsError(
            f'{checkpoint!r} has no tensor under prefix {prefix!r} (its keys '
            f'look like {sorted(weights.state)[:2]})')
    wrong = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}'
             for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    missing = [k for k in expected if k not in state
               and not k.endswith('num_batches_tracked')]
    # A deploy backbone fuses unfused branches while loading (RepDepthwise).
    fuse = any('.dw_reparam.' in k for k in missing) and any(
        '.dw_branches.' in k for k in state)
    if fuse:
        missing = [k for k in missing if '.dw_reparam.' not in k]
    if wrong or missing:
        problems = []
        if wrong:
            problems.append('shapes (file vs model) differ: ' + first(wrong))
        if missing:
            problems.append(f'{len(missing)} of the model\'s tensors are '
                            f'missing: {first(missing)}')
        raise WeightsError(
            f'init_cfg Pretrained {checkpoint!r} ({weights.source}, '
            f'{weights.fmt}) does not fit this backbone: '
            + '; '.join(problems) + ' (another arch, or deploy=True vs a '
            'checkpoint with branches?)')
    unexpected = [k for k in state if k not in expected
                  and not (fuse and '.dw_branches.' in k)]
    for key in unexpected:
        del state[key]  # e.g. a classifier head under the same prefix
    check_finite(state, weights.names)
    module.load_state_dict(state, strict=False)
    source = f'{checkpoint} (converted from its layout)' \
        if weights.source != 'ours' else checkpoint
    _record_init_info(module, state, fuse, f'loaded from {source}')
    print_log(
        f'init_cfg Pretrained: loaded {len(state)} tensors into '
        f'{type(module).__name__} from {weights.describe(path)}'
        + (', converted from its layout' if weights.source != 'ours'
           else '') + '; missing: none; unexpected (not used): '
        + (f'{len(unexpected)}: {first(unexpected)}' if unexpected
           else 'none'), logger='current')
    return list(state)


@WEIGHT_INITIALIZERS.register_module(name='ConvertedPretrained')
class ConvertedPretrainedInit:
    """:func:`load_pretrained` as an mmengine weight initializer, which
    ``PPLCNetV2.init_weights`` builds by name from mmengine's
    ``WEIGHT_INITIALIZERS`` for a local ``Pretrained`` ``init_cfg``: the
    model finds the converter through the registry and never imports it
    (the converter builds a PPLCNetV2 to learn its shapes).

    Args:
        checkpoint: Any file the converter reads (or a URL / hub id).
        prefix: The checkpoint's prefix of the module's keys.
    """

    def __init__(self, checkpoint: str,
                 prefix: Optional[str] = 'backbone.') -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix

    def __call__(self, module: nn.Module) -> None:
        load_pretrained(module, self.checkpoint, self.prefix)


def _record_init_info(module: nn.Module, state: Dict[str, object],
                      fuse: bool, info: str) -> None:
    """Describe the loaded parameters as ``info`` in mmengine's record of
    how each parameter was initialised (``_params_init_info``, which
    ``BaseModule.init_weights`` keeps while it runs and sums up in one line,
    see :func:`mmlcnetv2.compat.summarize_init_info`); without it they
    would count as set by a user-defined ``init_weights``."""
    record = getattr(module, '_params_init_info', None)
    if record is None:  # called outside init_weights
        return
    for name, param in module.named_parameters():
        if name in state or (fuse and '.dw_reparam.' in name):
            record[param]['init_info'] = info
            record[param]['tmp_mean_value'] = param.data.mean().cpu()
