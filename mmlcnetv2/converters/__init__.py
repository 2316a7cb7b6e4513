"""Weights from PaddleClas (``.pdparams``) and timm / Hugging Face
(``.safetensors``, ``.pth``, ``.bin``) to our layout; see
``mmlcnetv2 convert`` and :func:`load_pretrained` for ``init_cfg``."""
from .common import WeightsError
from .convert import (Weights, convert_paddle_checkpoint, convert_weights,
                      load_weights)
from .paddle import (PaddleWeightsError, convert_paddle_state_dict,
                     load_pdparams)
from .pretrained import load_pretrained

__all__ = [
    'WeightsError', 'Weights', 'load_weights', 'convert_weights',
    'load_pretrained', 'PaddleWeightsError', 'load_pdparams',
    'convert_paddle_state_dict', 'convert_paddle_checkpoint'
]
