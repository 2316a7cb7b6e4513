# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The one place where known-harmless warnings of our dependencies are
silenced (``tools/deploy.py`` printed seven distinct ones per export).

Only noise we checked is listed, each with why it is harmless. Warnings that
can mean a wrong export stay visible: mmdet's ``TracerWarning``s (a shape
value frozen into a static graph) and torch's "traced function does not
match" check.
"""
import warnings
from typing import Tuple, Type

KNOWN_HARMLESS: Tuple[Tuple[Type[Warning], str, str], ...] = (
    # OpenVINO's PyTorch frontend (ov.convert_model) traces with TorchScript
    # by itself; which tracer it uses is not ours to choose.
    (FutureWarning,
     r'`torch\.jit\.(trace|trace_method|script)` is deprecated', 'openvino'),
    # torch.jit's scan for @torch.jit.export methods reads every attribute
    # of every module, including mmdet's deprecated aliases of AnchorHead;
    # no code of ours or of the config uses them.
    (UserWarning, r'DeprecationWarning: (`num_anchors`|anchor_generator) is '
     r'deprecated', 'torch.jit attribute scan of mmdet heads'),
)


def ignore_known_upstream_warnings() -> None:
    """Add ``ignore`` filters for :data:`KNOWN_HARMLESS` (idempotent)."""
    for category, message, _why in KNOWN_HARMLESS:
        warnings.filterwarnings('ignore', message=message, category=category)
