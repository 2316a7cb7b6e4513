# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""One converter for every source: PaddleClas, timm / Hugging Face, ours.

:func:`load_weights` reads a file, decides (or is told) where it comes from,
and maps it to our layout; :func:`convert_weights` checks the result against
an arch and writes our classifier checkpoint; the backbone's ``init_cfg``
uses :func:`load_weights` too (see :mod:`.pretrained`), so a downloaded file
needs no separate conversion step.
"""
import os.path as osp
from typing import Dict, NamedTuple

import torch

from .common import BACKBONE_PREFIX, HEAD_PREFIX, WeightsError, check_fits
from .files import PICKLE, read_state_dict, sniff_format
from .paddle import (REFERENCE_DROPOUT, PaddleWeightsError, looks_like_paddle,
                     map_paddle_state)
from .timm import looks_like_timm, map_timm_state

SOURCES = ('auto', 'paddle', 'timm')


class Weights(NamedTuple):
    """Weights mapped to our layout, with where they came from."""
    state: Dict[str, torch.Tensor]  # our keys (backbone.*, head.*)
    names: Dict[str, str]  # our key -> the file's key
    source: str  # 'paddle', 'timm' or 'ours'
    fmt: str  # 'safetensors', 'torch zip' or 'pickle'

    def describe(self, path: str) -> str:
        what = {'paddle': 'a PaddleClas state dict',
                'timm': 'a timm / Hugging Face state dict',
                'ours': 'an mmlcnetv2 checkpoint'}[self.source]
        return f'{path}: {self.fmt} file, {what} ({len(self.state)} tensors)'


def _looks_like_ours(keys) -> bool:
    return any(k.startswith((BACKBONE_PREFIX, HEAD_PREFIX)) for k in keys)


def _detect_source(keys, path: str) -> str:
    if looks_like_paddle(keys):
        return 'paddle'
    if _looks_like_ours(keys):
        return 'ours'
    if looks_like_timm(keys):
        return 'timm'
    if any('dw_branches' in k or 'dw_reparam' in k for k in keys):
        return 'ours'  # a bare PPLCNetV2 backbone state dict
    keys = sorted(keys)
    raise WeightsError(
        f'{path!r} is not a PPLCNetV2 checkpoint of PaddleClas, timm or '
        f'mmlcnetv2: its {len(keys)} keys look like {keys[:3]}. Another '
        'network?')


def load_weights(path: str, source: str = 'auto',
                 dropout_rate: float = REFERENCE_DROPOUT) -> Weights:
    """Read ``path`` and map it to our layout (not yet checked against an
    arch).

    Args:
        path (str): A ``.pdparams``, ``.safetensors``, ``.pth``/``.bin``
            (timm or ours) file.
        source (str): ``'auto'`` (from the format and the keys),
            ``'paddle'`` or ``'timm'``.
        dropout_rate (float): A Paddle file's dropout, folded into fc.

    Raises:
        WeightsError: Unreadable, unsafe, or not of the named source.
        FileNotFoundError: No such file.
    """
    if source not in SOURCES:
        raise WeightsError(f'unknown source {source!r}: choose one of '
                           f'{", ".join(SOURCES)}')
    fmt = sniff_format(path)
    if source == 'timm' and fmt == PICKLE:
        fmt = 'torch legacy'  # timm files are torch's, never Paddle's
        from .files import read_torch, unwrap
        raw = unwrap(read_torch(path), path)
    else:
        raw, fmt = read_state_dict(path, fmt)
    found = _detect_source(list(raw), path)
    if source != 'auto' and found != source and not (
            found == 'ours' and source == 'timm'):
        raise WeightsError(
            f'{path!r} is not a {source} file: its keys are those of a '
            f'{found} checkpoint (e.g. {sorted(raw)[:2]}); use --from '
            f'{found if found != "ours" else "auto"}')
    if found == 'paddle':
        state, names = map_paddle_state(raw, dropout_rate)
    elif found == 'timm':
        state, names = map_timm_state(raw)
    else:
        if not _looks_like_ours(raw):  # a bare backbone: add our prefix
            raw = {BACKBONE_PREFIX + k: v for k, v in raw.items()}
        state = {k: torch.as_tensor(v) for k, v in raw.items()}
        names = {k: k for k in state}
    return Weights(state, names, found, fmt)


def _check_destination(src: str, dst: str) -> None:
    from ..errors import UserInputError
    from ..utils.outputs import check_output_file
    try:
        check_output_file(dst, 'output', [src], example='pplcnetv2.pth')
    except UserInputError as e:
        raise WeightsError(str(e)) from None


def convert_weights(src: str, dst: str, arch: str, source: str = 'auto',
                    dropout_rate: float = REFERENCE_DROPOUT) -> dict:
    """Convert ``src`` to our classifier checkpoint ``dst`` (atomically).

    The checkpoint is ``{'state_dict': ..., 'meta': ...}``, which
    ``configs/cls/pplcnetv2-<arch>_8xb256_in1k.py`` loads with
    ``strict=True`` (``configs/cls/deploy/...`` if the source was fused),
    and detection and segmentation configs load with
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``.

    Returns:
        dict: The written checkpoint; ``meta`` says what was converted.

    Raises:
        WeightsError: Naming the problem; nothing is written.
    """
    _check_destination(src, dst)
    weights = load_weights(src, source, dropout_rate)
    state = check_fits(weights.state, arch, weights.names)
    checkpoint = dict(
        state_dict=state,
        meta=dict(
            source=osp.basename(src),
            source_format=weights.fmt,
            source_type=weights.source,
            converter='mmlcnetv2.converters',
            arch=arch,
            fused=any('.dw_reparam.' in k for k in state),
            num_classes=int(state[HEAD_PREFIX + 'fc.bias'].shape[0])))
    from mmlcnetv2.utils.atomic import atomic_file
    with atomic_file(dst) as tmp:
        torch.save(checkpoint, tmp)
    return checkpoint


def convert_paddle_checkpoint(src: str, dst: str, arch: str,
                              dropout_rate: float = REFERENCE_DROPOUT) -> dict:
    """Convert ``src`` (.pdparams) and write ``dst`` (.pth) atomically.

    Kept for the existing callers; :func:`mmlcnetv2.converters.convert_weights`
    is the general form (any source).

    Returns:
        dict: The written checkpoint.
    """
    try:
        return convert_weights(src, dst, arch, source='paddle',
                               dropout_rate=dropout_rate)
    except PaddleWeightsError:
        raise
    except WeightsError as e:
        raise PaddleWeightsError(str(e)) from None
