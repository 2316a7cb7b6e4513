# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Mixed precision on the CPU: bf16 autocast, no loss scaling.

mmengine's ``AmpOptimWrapper`` asserts a GPU. On a CPU, ``tools/train.py
--amp`` uses this wrapper instead: the forward and loss run under
``torch.autocast('cpu', dtype=torch.bfloat16)``; parameters, gradients and
the optimizer stay fp32. bf16 has fp32's exponent range, so no loss scaler is
needed. Fast on CPUs with AVX512-BF16/AMX; elsewhere it works but may be
slower than fp32.
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward context is CPU bf16 autocast."""

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield
