# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Set the BatchNorm layers of a model built with random weights.

A freshly built model has identity BN (mean 0, variance 1, weight 1, bias
0): fusing such a BN into its convolution changes nothing, so a fusion or
export bug goes unseen. :func:`randomize_bn` gives every BN non-trivial,
seeded statistics and affine parameters (tests of fusion, parity, export);
:func:`reset_bn` sets them back to identity (benchmarks, where latency must
not depend on the weights).
"""
from typing import Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def randomize_bn(model: nn.Module, seed: int = 0, mean_std: float = 0.1,
                 var_range: Tuple[float, float] = (0.5, 1.0),
                 weight_range: Tuple[float, float] = (0.75, 1.25),
                 bias_std: float = 0.1) -> nn.Module:
    """Give every BN layer of ``model`` random statistics and affine
    parameters, in place, from its own generator (the global torch seed is
    neither used nor changed).

    Args:
        model: The model; every ``_BatchNorm`` in it (1d, 2d, SyncBN) is set.
        seed: Seed of the generator: the same seed, the same values.
        mean_std: Running means are normal with this standard deviation.
        var_range: Running variances are uniform in this range.
        weight_range: Weights (gamma) are uniform in this range.
        bias_std: Biases (beta) are normal with this standard deviation.

    Returns:
        nn.Module: ``model``.

    Example:
        >>> bn = randomize_bn(nn.Sequential(nn.BatchNorm2d(4)), seed=1)[0]
        >>> bool((bn.running_var >= 0.5).all() and (bn.running_var < 1).all())
        True
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(n: int, low_high: Tuple[float, float]) -> torch.Tensor:
        low, high = low_high
        return torch.rand(n, generator=gen) * (high - low) + low

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * mean_std)
                m.running_var.copy_(uniform(n, var_range))
                if m.affine:
                    m.weight.copy_(uniform(n, weight_range))
                    m.bias.copy_(torch.randn(n, generator=gen) * bias_std)
    return model


def reset_bn(model: nn.Module) -> nn.Module:
    """Set every BN layer of ``model`` to identity, in place: running mean
    0, running variance 1, weight 1, bias 0.

    Example:
        >>> bn = reset_bn(randomize_bn(nn.Sequential(nn.BatchNorm2d(4))))[0]
        >>> bool((bn.running_var == 1).all())
        True
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                if m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
    return model
