# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What the benchmark times with: random weights that behave like trained
ones, and its seeded input. Latency does not depend on the values; these
keep it so (no near-denormal activations) and the same every run.
"""
from typing import Tuple

import numpy as np
import torch.nn as nn

from mmlcnetv2.utils.batchnorm import reset_bn


def realistic_random_init(model: nn.Module) -> nn.Module:
    """Random weights that keep activations O(1) through the network, as
    trained weights do: He-normal convs, unit BN, small linear layers.

    torch's default conv init shrinks activations ~2x per layer: after the
    ~40 layers of PP-LCNetV2 they are ~1e-16 with a quarter of them below
    1e-30, and float kernels can slow down on such near-denormal values.
    Latency should not depend on the weights; this keeps it so.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_in',
                                    nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return reset_bn(model)


def random_image(size: Tuple[int, int]) -> np.ndarray:
    """The benchmark's input of a ``size`` (h, w) model: a seeded random
    normal batch of one, ``float32 [1, 3, h, w]``."""
    return np.random.default_rng(0).standard_normal(
        [1, 3, *size]).astype(np.float32)
