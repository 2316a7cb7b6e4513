# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""timm / Hugging Face ``lcnetv2_{small,base,large}`` state dicts.

timm 1.0.31's ``timm/models/lcnetv2.py`` is another port of PaddleClas's
network. Its state dict is ours but for the names of the rep branches
(``dw_conv_list``), of the SE convs (``se.fc1``/``se.fc2``) and of the head
(``conv_head``, ``classifier``); a re-parameterized timm model
(``reparameterize()`` or ``inference_mode=True``) stores the fused
depthwise conv as ``dw_conv.{weight,bias}``, our ``dw_reparam``. A
``features_only=True`` model flattens ``stages.0`` to ``stages_0``. No
tensor needs rescaling: timm's dropout, like ours, is identity at eval.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

from .common import BACKBONE_PREFIX, HEAD_PREFIX

# (timm name pattern, our name), applied in order to backbone keys.
_KEY_RULES: List[Tuple[str, str]] = [
    (r'^(stem|stages)_(\d+)\.', r'\1.\2.'),  # features_only=True models
    (r'\.dw_conv_list\.', r'.dw_conv.dw_branches.'),
    (r'^(stages\.\d+\.\d+)\.dw_conv\.(weight|bias)$',
     r'\1.dw_conv.dw_reparam.\2'),
    (r'\.se\.fc([12])\.', r'.se.conv\1.conv.'),
]
_HEAD_KEYS = {
    'conv_head.weight': HEAD_PREFIX + 'expand.weight',
    'classifier.weight': HEAD_PREFIX + 'fc.weight',
    'classifier.bias': HEAD_PREFIX + 'fc.bias',
}


def looks_like_timm(keys) -> bool:
    """timm's head and branch names, or its BN buffers without our
    ``backbone.`` prefix and without our branch/SE names."""
    keys = list(keys)
    if any(k in _HEAD_KEYS or '.dw_conv_list.' in k or '.se.fc1.' in k
           or re.match(r'^(stem|stages)_\d+\.', k) for k in keys):
        return True
    return ('stem.0.conv.weight' in keys
            and not any('dw_branches' in k or 'dw_reparam' in k
                        or '.se.conv1.conv.' in k for k in keys))


def _map_key(key: str) -> str:
    if key in _HEAD_KEYS:
        return _HEAD_KEYS[key]
    for pattern, repl in _KEY_RULES:
        key = re.sub(pattern, repl, key)
    return BACKBONE_PREFIX + key


def map_timm_state(state: Dict[str, torch.Tensor]):
    """Rename a timm LCNetV2 state dict into our layout (unchecked).

    Returns:
        tuple[OrderedDict, dict]: Our key -> tensor, and our key -> the
        file's key (for messages).
    """
    converted, names = OrderedDict(), {}
    for key, value in state.items():
        ours = _map_key(key)
        if key == 'conv_head.weight' and value.dim() == 4:
            value = value.flatten(1)  # a 1x1 conv on the pooled map: linear
        converted[ours] = value if not value.is_floating_point() \
            else value.float()
        names[ours] = key
    return converted, names
