# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Read a weights file of any supported format, executing nothing from it.

- ``.safetensors``: tensors and a JSON header only, safe by format;
- a torch zip (``torch.save``: ``.pth``, ``.bin``, ``.pt``): read with
  ``torch.load(weights_only=True)``, which refuses any object but tensors
  and plain containers (and the mmengine Runner data allowed by
  :mod:`mmlcnetv2.compat`);
- a bare pickle (PaddlePaddle's ``.pdparams``): numpy arrays only, see
  :func:`mmlcnetv2.converters.paddle.load_pdparams`.

The format is recognised from the first bytes, not from the file name.
"""
import json
import os.path as osp
import pickle
import struct
from typing import Dict, Tuple

import numpy as np
import torch

from .common import WeightsError

SAFETENSORS, TORCH_ZIP, PICKLE = 'safetensors', 'torch zip', 'pickle'
_ZIP_MAGIC = b'PK\x03\x04'
# A torch.save file before torch 1.6 (not a zip) starts with a pickled
# magic number; torch.load(weights_only=True) still reads those.
_LEGACY_TORCH_MAGIC = 0x1950a86a20f9469cfc6c


def sniff_format(path: str) -> str:
    """``'safetensors'``, ``'torch zip'`` or ``'pickle'`` from the first bytes.

    Raises:
        FileNotFoundError: ``path`` is not a file (a directory, missing).
        WeightsError: An empty file.
    """
    if osp.isdir(path):
        raise WeightsError(f'{path!r} is a directory, not a weights file')
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such weights file: {path!r}')
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(9)
    if size == 0:
        raise WeightsError(f'{path!r} is empty')
    if head.startswith(_ZIP_MAGIC):
        return TORCH_ZIP
    if len(head) == 9 and head[8:9] == b'{':
        (header_len, ) = struct.unpack('<Q', head[:8])
        if 8 + header_len <= size:
            return SAFETENSORS
        raise WeightsError(
            f'{path!r} is a truncated safetensors file (header of '
            f'{header_len} bytes, file of {size})')
    return PICKLE


def _read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return dict(load_file(path, device='cpu'))
    except (SafetensorError, json.JSONDecodeError, ValueError, OSError) as e:
        raise WeightsError(
            f'{path!r} is not a readable safetensors file (truncated or '
            f'damaged?): {e}') from None


def read_torch(path: str):
    """A torch file under safe loading (``weights_only=True``): tensors,
    plain data and mmengine's Runner data, nothing else.

    Raises:
        WeightsError: The file holds other objects, or is no torch file.
    """
    from ..utils.safe_load import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's message suggests weights_only=False: never do that with a
        # file you did not write yourself. Name only what was refused.
        reason = str(e).split('\n')
        refused = [line.strip() for line in reason
                   if 'GLOBAL' in line or 'Unsupported' in line]
        raise WeightsError(
            f'refusing {path!r}: it holds Python objects other than tensors '
            f'({refused[0] if refused else reason[0]}); nothing from it was '
            'executed. Weights files must contain tensors only.') from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise WeightsError(
            f'{path!r} is not a readable torch file (truncated or '
            f'damaged?): {str(e).splitlines()[0]}') from None


def unwrap(obj, path: str) -> Dict[str, object]:
    """The state dict inside a checkpoint (``state_dict``/``model``
    wrappers, DataParallel's ``module.`` prefix removed)."""
    if not isinstance(obj, dict):
        raise WeightsError(
            f'{path!r} holds a {type(obj).__name__}, not a state dict')
    for wrapper in ('state_dict', 'model'):
        if isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if obj and all(isinstance(k, str) and k.startswith('module.')
                   for k in obj):
        obj = {k[len('module.'):]: v for k, v in obj.items()}
    return obj


def read_state_dict(path: str, fmt: str = None
                    ) -> Tuple[Dict[str, object], str]:
    """Read the state dict of ``path`` as its format allows.

    Args:
        path (str): The file.
        fmt (str, optional): Force a reader (``'pickle'`` files may be
            Paddle's or a pre-1.6 torch file); default: from the bytes.

    Returns:
        tuple[dict, str]: Key -> tensor (numpy arrays for Paddle files),
        and the format that was read.

    Raises:
        WeightsError: Unreadable, unsafe or not a state dict.
    """
    fmt = fmt or sniff_format(path)
    if fmt == SAFETENSORS:
        return _read_safetensors(path), fmt
    if fmt == TORCH_ZIP:
        state = unwrap(read_torch(path), path)
    else:
        from .paddle import load_pdparams
        try:
            return load_pdparams(path), fmt
        except WeightsError as e:
            if 'holds a int' not in str(e):
                raise
        state = unwrap(read_torch(path), path)  # a pre-1.6 torch file
    bad = [k for k, v in state.items()
           if not isinstance(v, (torch.Tensor, np.ndarray))]
    if bad:
        raise WeightsError(
            f'{path!r}: entry {bad[0]!r} is a {type(state[bad[0]]).__name__}'
            ', not a tensor: not a state dict')
    return state, fmt
