# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Train and evaluate with the convolutions' tensors in channels-last order."""
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Store the model's 4-D weights channels-last (NHWC) for training and
    evaluation.

    A convolution with a channels-last weight computes in channels-last, and
    its output stays so through batch norm, activations and the next
    convolution, so converting the weights converts the whole network; the
    images the data preprocessor stacks need no change. On a CPU, oneDNN's
    depthwise convolutions (most of PP-LCNetV2, LCPAN and PicoHead) run 2-3x
    faster forward and backward in channels-last than in NCHW; a training
    step of the PicoDet-style shapes demo takes about a quarter less time.
    The same as timm's ``train.py --channels-last``.

    Only the memory layout changes: the same parameters (the optimizer keeps
    them), the same values, checkpoints that load into any model. Sums run
    in another order, so results match NCHW to float rounding, not bit for
    bit.

    Example:
        >>> custom_hooks = [dict(type='ChannelsLastHook')]
    """

    priority = 'VERY_HIGH'

    # After the weights are initialised or loaded, not before (before_run):
    # an initialiser fills a tensor in memory order, so a channels-last
    # tensor would get other values from the same seed.
    def before_train(self, runner) -> None:
        self._to_channels_last(runner)

    def before_val(self, runner) -> None:
        self._to_channels_last(runner)

    def before_test(self, runner) -> None:
        self._to_channels_last(runner)

    @staticmethod
    def _to_channels_last(runner) -> None:
        # Module.to(memory_format=...) converts only 4-D tensors, in place
        # (param.data), so the optimizer's references stay valid; tensors
        # already channels-last are left as they are.
        runner.model.to(memory_format=torch.channels_last)
