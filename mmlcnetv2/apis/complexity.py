# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Parameter and FLOP counts through mmengine's complexity analysis."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count


def count_params(model: nn.Module) -> int:
    """Parameters the forward pass uses (BN statistics are buffers)."""
    return parameter_count(model)['']


def count_flops(model: nn.Module, shape: Tuple[int, int]) -> int:
    """FLOPs of one ``(1, 3, H, W)`` forward in ``eval()`` mode.

    mmengine counts one multiply-add as one FLOP for conv, linear and
    matmul, and one FLOP per element for BN, pooling and upsampling;
    element-wise activations, adds and multiplies are not counted.
    ``paddle.flops`` (the seed's 604M) counts the same way.
    """
    model.eval()
    inputs = (torch.zeros(1, 3, *shape), )
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())
