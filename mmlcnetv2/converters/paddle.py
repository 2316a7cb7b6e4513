# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""PaddleClas ``PPLCNetV2_*`` ``.pdparams`` (incl. ``*_ssld_pretrained``).

A ``.pdparams`` file is a pickle of a plain dict of numpy arrays. It is read
here without Paddle, by an unpickler that resolves nothing but numpy array
reconstruction: any other global in the file is refused before it can run.
The SSLD (distilled) files are state dicts of the same model class
(PaddleClas's ``use_ssld`` only picks another download URL), so they have
the same keys and convert the same way.
"""
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import numpy as np
import torch

from .common import BACKBONE_PREFIX, HEAD_PREFIX, WeightsError, check_fits

# The one non-weight entry PaddlePaddle adds to a saved state dict.
PADDLE_NAME_TABLE = 'StructuredToParameterName@@'

# PaddleClas builds every PPLCNetV2 variant with dropout_prob=0.2.
REFERENCE_DROPOUT = 0.2


class PaddleWeightsError(WeightsError):
    """A ``.pdparams`` file that cannot be read or does not fit the arch."""


def _numpy_globals() -> Dict[Tuple[str, str], object]:
    """The globals a numpy-array pickle may name, under numpy 1.x and 2.x."""
    multiarray = np.core.multiarray if not hasattr(
        np, '_core') else np._core.multiarray
    allowed = {}
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed[(module, '_reconstruct')] = multiarray._reconstruct
        allowed[(module, 'scalar')] = multiarray.scalar
    allowed[('numpy', 'ndarray')] = np.ndarray
    allowed[('numpy', 'dtype')] = np.dtype
    # Protocol-2 pickles store array bytes through _codecs.encode.
    import _codecs
    allowed[('_codecs', 'encode')] = _codecs.encode
    return allowed


class _NumpyOnlyUnpickler(pickle.Unpickler):
    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise PaddleWeightsError(
                f'refusing to load {module}.{name}: a .pdparams file may only '
                'reference numpy array reconstruction; this file is not a '
                'plain Paddle state dict (nothing from it was executed).'
            ) from None

    def persistent_load(self, pid):
        raise PaddleWeightsError(
            'refusing a pickle with persistent ids: not a .pdparams file')


def load_pdparams(path: str) -> Dict[str, np.ndarray]:
    """Read a Paddle ``.pdparams`` state dict without Paddle.

    Args:
        path (str): The file.

    Returns:
        dict[str, np.ndarray]: The weights by Paddle's structured name.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'No such .pdparams file: {path!r}')
    with open(path, 'rb') as f:
        try:
            obj = _NumpyOnlyUnpickler(f).load()
        except PaddleWeightsError:
            raise
        except Exception as e:  # truncated, not a pickle, ...
            raise PaddleWeightsError(
                f'{path!r} is not a readable .pdparams pickle: {e}') from e
    if not isinstance(obj, dict):
        raise PaddleWeightsError(
            f'{path!r} holds a {type(obj).__name__}, not a state dict')
    obj.pop(PADDLE_NAME_TABLE, None)
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray):
            raise PaddleWeightsError(
                f'{path!r}: entry {key!r} is a {type(value).__name__}, '
                'expected a numpy array keyed by name')
    return obj


# (Paddle name pattern, our name) in the order they are tried. Paddle's rep
# target conv ``dw_conv.{weight,bias}`` is only filled by re_parameterize();
# we fuse from the branches instead, so it maps to None (dropped).
_KEY_RULES: List[Tuple[str, object]] = [
    (r'^(.*)\.bn\._mean$', r'\1.bn.running_mean'),
    (r'^(.*)\.bn\._variance$', r'\1.bn.running_var'),
    (r'^(stages\.\d+\.\d+)\.dw_conv\.(weight|bias)$', None),
    (r'^(stages\.\d+\.\d+)\.dw_conv_list\.', r'\1.dw_conv.dw_branches.'),
    (r'\.se\.conv([12])\.', r'.se.conv\1.conv.'),
    (r'\.pw_conv_1\.', r'.pw_conv.0.'),
    (r'\.pw_conv_2\.', r'.pw_conv.1.'),
]


def looks_like_paddle(keys) -> bool:
    """Paddle's BN buffers are ``_mean``/``_variance``; its head
    ``last_conv``/``fc``."""
    return any(k.endswith(('._mean', '._variance')) or k == 'last_conv.weight'
               for k in keys)


def _map_key(key: str):
    if key == 'last_conv.weight':
        return HEAD_PREFIX + 'expand.weight'
    if key in ('fc.weight', 'fc.bias'):
        return HEAD_PREFIX + key
    for pattern, repl in _KEY_RULES:
        if re.search(pattern, key):
            if repl is None:
                return None
            key = re.sub(pattern, repl, key)
    return BACKBONE_PREFIX + key


def map_paddle_state(paddle_state: Dict[str, np.ndarray],
                     dropout_rate: float = REFERENCE_DROPOUT):
    """Rename and reshape a Paddle state dict into our layout (unchecked).

    Args:
        paddle_state (dict): From :func:`load_pdparams`.
        dropout_rate (float): The Paddle model's dropout. Paddle's
            ``downscale_in_infer`` dropout scales by ``1 - p`` at eval;
            ours (torch's) does not, so the scale is folded into the fc
            weight and the converted logits equal Paddle's.

    Returns:
        tuple[OrderedDict, dict]: Our key -> tensor, and our key -> the
        file's key (for messages).
    """
    converted, names = OrderedDict(), {}
    for key, value in paddle_state.items():
        ours = _map_key(key)
        if ours is None:
            continue
        tensor = torch.from_numpy(np.ascontiguousarray(value)).float()
        if key == 'last_conv.weight' and tensor.dim() == 4:
            tensor = tensor.flatten(1)  # a 1x1 conv on a 1x1 map is a linear
        elif key == 'fc.weight':  # Paddle's Linear is [in, out]
            tensor = tensor.t().contiguous() * (1.0 - dropout_rate)
        converted[ours] = tensor
        names[ours] = key
    return converted, names


def convert_paddle_state_dict(
        paddle_state: Dict[str, np.ndarray],
        arch: str,
        dropout_rate: float = REFERENCE_DROPOUT) -> 'OrderedDict':
    """Map a PaddleClas ``PPLCNetV2_<arch>`` state dict to our classifier.

    Args:
        paddle_state (dict): From :func:`load_pdparams`.
        arch (str): ``'small'``, ``'base'`` or ``'large'``.
        dropout_rate (float): See :func:`map_paddle_state`.

    Returns:
        OrderedDict: ``backbone.*`` and ``head.*`` tensors, in our order.

    Raises:
        PaddleWeightsError: The file does not fit ``arch``.
    """
    if 'fc.bias' not in paddle_state:
        raise PaddleWeightsError(
            'no fc.bias in the file: not a PaddleClas PPLCNetV2 classifier')
    state, names = map_paddle_state(paddle_state, dropout_rate)
    try:
        return check_fits(state, arch, names)
    except PaddleWeightsError:
        raise
    except WeightsError as e:
        raise PaddleWeightsError(str(e)) from None
