# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What every weight source shares: our target layout and its validation.

Each source module (:mod:`.paddle`, :mod:`.timm`) maps its keys to ours;
this module decides whether the result fits a PPLCNetV2 arch, and when it
does not, says why in one message that names the first mismatches and,
only when the shapes really are those of another arch, which arch.
"""
from collections import OrderedDict
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Tuple

import torch

ARCHS = ('small', 'base', 'large')
# Our classifier checkpoint: backbone keys under this prefix, head keys
# under HEAD_PREFIX (what configs/cls/*.py load with strict=True).
BACKBONE_PREFIX = 'backbone.'
HEAD_PREFIX = 'head.'
# How many names a message lists before "(and N more)".
SHOWN = 5


class WeightsError(ValueError):
    """A weights file that cannot be read, is unsafe, or does not fit."""


def first(items: Iterable[str], n: int = SHOWN) -> str:
    """``a, b, c (and 4 more)``."""
    items = list(items)
    more = f' (and {len(items) - n} more)' if len(items) > n else ''
    return ', '.join(items[:n]) + more


@lru_cache(maxsize=None)
def _backbone_shapes(arch, deploy: bool) -> Tuple[Tuple[str, tuple], ...]:
    from mmlcnetv2.models import PPLCNetV2
    backbone = PPLCNetV2(dict(arch) if isinstance(arch, tuple) else arch,
                         deploy=deploy)
    return tuple((k, tuple(v.shape)) for k, v in backbone.state_dict().items())


def _arch_key(arch):
    """A hashable form of a str or dict arch (for the shape cache)."""
    if isinstance(arch, dict):
        return tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple))
                             else v) for k, v in arch.items()))
    return arch


def expected_shapes(arch, deploy: bool = False,
                    num_classes: Optional[int] = None,
                    head_channels: int = 1280) -> 'OrderedDict[str, tuple]':
    """Our classifier's (or, without ``num_classes``, backbone's) keys and
    shapes for ``arch``, in our order.

    Args:
        arch (str | dict): A PPLCNetV2 arch.
        deploy (bool): The fused form (``dw_reparam`` instead of branches).
        num_classes (int, optional): Add the head with this many classes.
        head_channels (int): The head's expansion width (1280 in every
            PaddleClas and timm variant).
    """
    shapes = OrderedDict(
        (BACKBONE_PREFIX + k, s)
        for k, s in _backbone_shapes(_arch_key(arch), deploy))
    if num_classes is not None:
        last = shapes[_last_pw_key(shapes)]
        shapes[HEAD_PREFIX + 'expand.weight'] = (head_channels, last[0])
        shapes[HEAD_PREFIX + 'fc.weight'] = (num_classes, head_channels)
        shapes[HEAD_PREFIX + 'fc.bias'] = (num_classes, )
    return shapes


def _last_pw_key(shapes: Dict[str, tuple]) -> str:
    """The last pointwise conv weight: its output width feeds the head."""
    return [k for k in shapes
            if '.pw_conv.' in k and k.endswith('conv.weight')][-1]


def _mismatches(state: Dict[str, torch.Tensor],
                expected: Dict[str, tuple]) -> Tuple[list, list, list]:
    missing = [k for k in expected if k not in state
               and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected
             if k in state and tuple(state[k].shape) != expected[k]]
    return missing, unexpected, wrong


def check_finite(state: Dict[str, torch.Tensor],
                 names: Dict[str, str]) -> None:
    """Refuse NaN or inf in any floating tensor, naming the first ones.

    Args:
        names (dict): Our key -> the file's key, for the message.
    """
    bad = []
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            nan = int(torch.isnan(value).sum())
            inf = int(torch.isinf(value).sum())
            bad.append(f'{names.get(key, key)} ({nan} NaN, {inf} inf of '
                       f'{value.numel()})')
    if bad:
        raise WeightsError(
            f'non-finite values in {len(bad)} tensor(s): {first(bad)}; the '
            'file is corrupted (a model with these weights outputs NaN). '
            'Nothing was written.')


def _fitting_archs(state: Dict[str, torch.Tensor], deploy: bool,
                   num_classes: Optional[int],
                   exclude=None) -> List[str]:
    fits = []
    for arch in ARCHS:
        if arch == exclude:
            continue
        exp = expected_shapes(arch, deploy, num_classes)
        if not any(_mismatches(state, _restrict(state, exp))):
            fits.append(arch)
    return fits


def _restrict(state, expected):
    """Without a head in the file, compare the backbone only."""
    if any(k.startswith(HEAD_PREFIX) for k in state):
        return expected
    return OrderedDict((k, s) for k, s in expected.items()
                       if k.startswith(BACKBONE_PREFIX))


def check_fits(state: Dict[str, torch.Tensor],
               arch,
               names: Dict[str, str],
               arch_option: str = '--arch',
               require_head: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Check converted weights against ``arch``; return them in our order.

    Args:
        state (dict): Our keys (``backbone.*``, ``head.*``) -> tensors.
        arch (str | dict): The arch the user asked for.
        names (dict): Our key -> the file's key, for messages.
        arch_option (str): How the user sets the arch (for the hint).
        require_head (bool): The file must hold the classifier head.

    Raises:
        WeightsError: Naming the first mismatching tensors; it suggests
            another arch only if the file fits that arch exactly.
    """
    deploy = any('.dw_reparam.' in k for k in state)
    num_classes = None
    if HEAD_PREFIX + 'fc.bias' in state:
        num_classes = int(state[HEAD_PREFIX + 'fc.bias'].shape[0])
    elif require_head:
        raise WeightsError(
            'the file has no classifier (fc.bias / classifier.bias): it is a '
            'backbone-only or feature checkpoint. Use it through the '
            'backbone\'s init_cfg=dict(type=\'Pretrained\', checkpoint=..., '
            'prefix=\'backbone.\') instead of converting it to a classifier.')
    expected = _restrict(state, expected_shapes(arch, deploy, num_classes))
    missing, unexpected, wrong = _mismatches(state, expected)
    if not (missing or unexpected or wrong):
        check_finite(state, names)
        # BN counters are not weights; a file may lack them.
        zero = torch.tensor(0, dtype=torch.long)
        return OrderedDict((k, state.get(k, zero)) for k in expected)

    def name(k):
        return names.get(k, k)

    shown = [f'{name(k)} {tuple(state[k].shape)} vs {expected[k]}'
             for k in wrong]
    label = arch if isinstance(arch, str) else 'custom'
    others = _fitting_archs(state, deploy, num_classes, exclude=arch)
    if others:
        differences = shown or [name(k) for k in missing + unexpected]
        raise WeightsError(
            f'the file is a PPLCNetV2 {others[0]!r}, not {label!r} (its '
            f'shapes fit {others[0]!r} exactly; first differences from '
            f'{label!r}: {first(differences)}). '
            f'Use {arch_option} {others[0]}.')
    known = len(expected) - len(missing)
    if known < len(expected) // 4:
        raise WeightsError(
            f'not a PPLCNetV2 checkpoint: {len(missing)} of its '
            f'{len(expected)} tensors are missing (e.g. '
            f'{first(missing, 3)}) and the file has others (e.g. '
            f'{first([name(k) for k in unexpected], 3)}). Another network?')
    if not missing and not unexpected:
        raise WeightsError(
            f'{len(wrong)} tensor(s) have the wrong shape for PPLCNetV2 '
            f'{label!r}: {first(shown)}; every other tensor fits {label!r} '
            'and no other arch fits, so the file is damaged or was edited '
            '(not another arch). Nothing was written.')
    problems = []
    if wrong:
        problems.append(f'shape mismatches (file vs arch): {first(shown)}')
    if missing:
        problems.append(f'missing for {label!r}: {first(missing)}')
    if unexpected:
        problems.append(
            f'not in {label!r}: {first([name(k) for k in unexpected])}')
    raise WeightsError(
        f'the weights do not fit PPLCNetV2 arch {label!r}: '
        + '; '.join(problems) + f'. They fit none of {", ".join(ARCHS)} '
        'either: the file is damaged or of a modified network.')
