# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Convert PaddleClas ``PPLCNetV2_*`` ``.pdparams`` to an mmpretrain checkpoint.

A ``.pdparams`` file is a pickle of a plain dict of numpy arrays. It is read
here without Paddle, by an unpickler that resolves nothing but numpy array
reconstruction: any other global in the file is refused before it can run.
"""
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import numpy as np
import torch

from mmlcnetv2.utils.atomic import atomic_file

# The one non-weight entry PaddlePaddle adds to a saved state dict.
PADDLE_NAME_TABLE = 'StructuredToParameterName@@'

# PaddleClas builds every PPLCNetV2 variant with dropout_prob=0.2.
REFERENCE_DROPOUT = 0.2


class PaddleWeightsError(ValueError):
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


def _map_key(key: str):
    if key == 'last_conv.weight':
        return 'head.expand.weight'
    if key in ('fc.weight', 'fc.bias'):
        return 'head.' + key
    for pattern, repl in _KEY_RULES:
        if re.search(pattern, key):
            if repl is None:
                return None
            key = re.sub(pattern, repl, key)
    return 'backbone.' + key


def _expected_state_dict(arch: str, num_classes: int) -> Dict[str, tuple]:
    from mmlcnetv2.models import PPLCNetV2, PPLCNetV2Head
    backbone = PPLCNetV2(arch)
    head = PPLCNetV2Head(num_classes, backbone.out_channels[-1])
    shapes = OrderedDict()
    for prefix, module in (('backbone.', backbone), ('head.', head)):
        for name, tensor in module.state_dict().items():
            shapes[prefix + name] = tuple(tensor.shape)
    return shapes


def _first(items, n: int = 5) -> str:
    items = list(items)
    more = f' (and {len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


def convert_paddle_state_dict(
        paddle_state: Dict[str, np.ndarray],
        arch: str,
        dropout_rate: float = REFERENCE_DROPOUT) -> 'OrderedDict':
    """Map a PaddleClas ``PPLCNetV2_<arch>`` state dict to our classifier.

    Args:
        paddle_state (dict): From :func:`load_pdparams`.
        arch (str): ``'small'``, ``'base'`` or ``'large'``.
        dropout_rate (float): The Paddle model's dropout. Paddle's
            ``downscale_in_infer`` dropout scales by ``1 - p`` at eval;
            ours (torch's) does not, so the scale is folded into the fc
            weight and the converted logits equal Paddle's.

    Returns:
        OrderedDict: ``backbone.*`` and ``head.*`` tensors, in our order.
    """
    if 'fc.bias' not in paddle_state:
        raise PaddleWeightsError(
            'no fc.bias in the file: not a PaddleClas PPLCNetV2 classifier')
    num_classes = int(paddle_state['fc.bias'].shape[0])
    expected = _expected_state_dict(arch, num_classes)
    converted = OrderedDict()
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
    for key, shape in expected.items():
        if key.endswith('num_batches_tracked') and key not in converted:
            converted[key] = torch.tensor(0, dtype=torch.long)

    missing = [k for k in expected if k not in converted]
    unexpected = [k for k in converted if k not in expected]
    wrong = [
        f'{k} {tuple(converted[k].shape)} vs {expected[k]}' for k in expected
        if k in converted and tuple(converted[k].shape) != expected[k]
    ]
    if missing or unexpected or wrong:
        problems = []
        if wrong:
            problems.append(f'shape mismatches (file vs arch): {_first(wrong)}')
        if missing:
            problems.append(f'missing for arch {arch!r}: {_first(missing)}')
        if unexpected:
            problems.append(f'not in arch {arch!r}: {_first(unexpected)}')
        raise PaddleWeightsError(
            f'the weights do not fit PPLCNetV2 arch {arch!r}: '
            + '; '.join(problems) + '. Is --arch the one the file was '
            'trained with (small, base or large)?')
    return OrderedDict((k, converted[k]) for k in expected)


def convert_paddle_checkpoint(src: str, dst: str, arch: str,
                              dropout_rate: float = REFERENCE_DROPOUT) -> dict:
    """Convert ``src`` (.pdparams) and write ``dst`` (.pth) atomically.

    The checkpoint is ``{'state_dict': ..., 'meta': ...}``, which the
    classification configs load directly and the detection and segmentation
    configs load with ``init_cfg=dict(type='Pretrained', checkpoint=dst,
    prefix='backbone.')``.

    Returns:
        dict: The written checkpoint.
    """
    state_dict = convert_paddle_state_dict(load_pdparams(src), arch,
                                           dropout_rate)
    checkpoint = dict(
        state_dict=state_dict,
        meta=dict(
            source=osp.basename(src),
            converter='mmlcnetv2.converters.paddle',
            arch=arch,
            num_classes=int(state_dict['head.fc.bias'].shape[0])))
    with atomic_file(dst) as tmp:
        torch.save(checkpoint, tmp)
    return checkpoint
