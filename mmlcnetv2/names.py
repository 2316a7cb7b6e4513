# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The words the package uses for tasks and precisions, defined once.

Precisions are spelled as OpenVINO spells element types (``f32``, ``f16``,
``bf16``) plus ``int8`` for a quantized IR, everywhere: ``tools/deploy.py
--precision``, ``deploy.json``, the inferencer's ``precision_hint`` and the
benchmark's rows. Two questions use the same words:

- *export precision*: what the IR stores (``f32`` weights, ``f16``
  weights, or an ``int8`` quantized graph);
- *compute precision*: what the CPU computes in
  (``INFERENCE_PRECISION_HINT``), ``bf16`` only where the CPU has it.

Torch-free: ``tools/*.py --help`` imports it.
"""
from typing import Dict, Tuple

TASKS: Tuple[str, ...] = ('classification', 'detection', 'segmentation')

EXPORT_PRECISIONS: Tuple[str, ...] = ('f32', 'f16', 'int8')
COMPUTE_PRECISIONS: Tuple[str, ...] = ('f32', 'bf16', 'f16')
# A benchmark row: a float IR computed in f32 or bf16, or the int8 IR.
BENCHMARK_PRECISIONS: Tuple[str, ...] = ('f32', 'bf16', 'int8')

# Where a detection export does its NMS (``tools/deploy.py --nms``): in the
# IR (OpenVINO's NonMaxSuppression), or on the host after an IR that ends
# at the decoded candidates (for plugins without that op: GPU, NPU).
NMS_PLACES: Tuple[str, ...] = ('graph', 'host')

# What an export's IR takes (``tools/deploy.py --input``): the resized
# ``uint8`` image (the default), the normalized ``float`` tensor (the host
# preprocesses), or the decoded ``image`` as it is (a dynamic detector or
# segmentor resizes it inside).
INPUT_FORMS: Tuple[str, ...] = ('uint8', 'float', 'image')

# Earlier spellings (``--precision fp32``, exports written before this module).
LEGACY_PRECISIONS: Dict[str, str] = {'fp32': 'f32', 'fp16': 'f16'}
# Task names of benchmark results written before this module
# (``docs/benchmarks/*.json`` rows say ``'cls'``/``'det'``).
LEGACY_TASKS: Dict[str, str] = {'cls': 'classification', 'det': 'detection'}


def export_precision(name: str) -> str:
    """``name`` as one of :data:`EXPORT_PRECISIONS` (legacy spellings too).

    Example:
        >>> export_precision('fp16')
        'f16'

    Raises:
        ValueError: ``name`` is not an export precision (names it and the
            allowed ones).
    """
    name = LEGACY_PRECISIONS.get(name, name)
    if name not in EXPORT_PRECISIONS:
        raise ValueError(f'precision must be one of {EXPORT_PRECISIONS}, '
                         f'got {name!r}')
    return name


def check_task(task: str) -> str:
    """``task`` if it is one of :data:`TASKS`.

    Raises:
        ValueError: naming ``task`` and the allowed ones.
    """
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}, got {task!r}')
    return task
