# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The building blocks of ``deploy.json``'s checks: a field check is a
``(predicate, what it must be)`` pair; :func:`check_field` applies one and
raises :class:`DeployFormatError` naming the file, the field, what it must
be and what it is.

Used by the format (:mod:`mmlcnetv2.deploy.manifest.schema`), the
preprocessing steps
(:mod:`mmlcnetv2.deploy.preprocess.steps`) and the tasks' own fields
(:meth:`~mmlcnetv2.deploy.tasks.DeployTask.check_meta`), without importing
one another.
"""
import math
from typing import Any, Callable, Tuple

#: The largest side (pixels) of a network input, a resize or a crop: the
#: inferencer allocates images and tensors of these sizes (an
#: ``export_size`` of 100000x100000 asked for 27.9 GiB).
MAX_SIDE = 8192
INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


class DeployFormatError(ValueError):
    """A ``deploy.json`` that does not describe an export; names the file
    and the field."""


#: A field's value when the field is absent.
MISSING = object()
Check = Tuple[Callable[[Any], bool], str]


def is_int(value: Any, low: int) -> bool:
    """An int (not a bool) of at least ``low``."""
    return isinstance(value, int) and not isinstance(value, bool) and \
        value >= low


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(
        value, bool) and math.isfinite(value)


def is_numbers(value: Any, n: int, nonzero: bool = False) -> bool:
    """A list of ``n`` numbers (``nonzero``: none 0)."""
    return isinstance(value, list) and len(value) == n and all(
        is_number(v) and (v != 0 or not nonzero) for v in value)


def is_side(value: Any) -> bool:
    """A side in pixels: an int in [1, :data:`MAX_SIDE`]."""
    return is_int(value, 1) and value <= MAX_SIDE


def is_pair(value: Any) -> bool:
    """A list of two sides."""
    return isinstance(value, list) and len(value) == 2 and all(
        is_side(v) for v in value)


def is_one_of(value: Any, allowed) -> bool:
    """A string in ``allowed``."""
    # Only strings are looked up: a list or dict is unhashable (TypeError).
    return isinstance(value, str) and value in allowed


def is_plain_name(value: Any) -> bool:
    """A file directly in the export folder: no path, nothing hidden."""
    return isinstance(value, str) and value != '' and not value.startswith(
        '.') and '/' not in value and '\\' not in value


POSITIVE_INT: Check = (lambda v: is_int(v, 1), 'an integer >= 1')
SIDE: Check = (is_side, f'an integer in [1, {MAX_SIDE}]')
PAIR: Check = (is_pair, f'a list of two integers in [1, {MAX_SIDE}]')
BOOL: Check = (lambda v: isinstance(v, bool), 'true or false')
INTERPOLATION: Check = (lambda v: is_one_of(v, INTERPOLATIONS),
                        f'one of {list(INTERPOLATIONS)}')
#: A score or IoU threshold in deploy.json.
FRACTION: Check = (lambda v: is_number(v) and 0 <= v <= 1,
                   'a number in [0, 1]')


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def fail(path: str, field: str, wanted: str, value: Any = MISSING):
    """Raise :class:`DeployFormatError`: ``field`` of ``path`` must be
    ``wanted``; it is ``value`` (or missing)."""
    got = 'it is missing' if value is MISSING else f'got {_short(value)}'
    raise DeployFormatError(f'{path}: {field!r} must be {wanted}; {got}')


def check_field(node: dict, key: str, check: Check, path: str,
                prefix: str = '', required: bool = True) -> None:
    """Check ``node[key]`` (named ``prefix + key`` in the message); an
    absent key fails only when ``required``."""
    value = node.get(key, MISSING)
    if value is MISSING and not required:
        return
    if value is MISSING or not check[0](value):
        fail(path, prefix + key, check[1], value)


def check_object(node: Any, field: str, path: str) -> dict:
    """``node``, which must be a JSON object."""
    if not isinstance(node, dict):
        fail(path, field, 'a JSON object', node)
    return node
