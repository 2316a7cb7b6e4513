# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""LCPAN: PicoDet's light CSP-PAN neck, built from mmcv/mmdet modules."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers import CSPLayer
from mmengine.model import BaseModule
from mmengine.registry import MODELS  # root: seen by mmdet
from torch import Tensor


@MODELS.register_module()
class LCPAN(BaseModule):
    """A channel-reduced CSP-PAN with depthwise convs and extra levels.

    The neck of PaddleDetection's PicoDet: every input is first reduced to
    ``out_channels`` by a 1x1 conv (the widths never grow again, unlike
    YOLOX's/RTMDet's PAFPN), then a top-down and a bottom-up path fuse the
    levels with CSP layers whose convs are depthwise-separable, and each extra
    level (stride x2 of the last) adds a strided depthwise-separable conv of
    the last reduced input to one of the last output, as PicoDet does.

    Args:
        in_channels (Sequence[int]): Channels of the inputs, fine to coarse.
        out_channels (int): The one width of every output. Defaults to 96.
        num_extra_levels (int): Levels added after the last input.
            Defaults to 1 (three inputs -> four outputs, strides 8..64).
        kernel_size (int): Kernel of the strided depthwise convs (down-sample
            and extra levels). Defaults to 5, as PicoDet.
        num_csp_blocks (int): Bottlenecks per CSP layer. Defaults to 1.
        use_depthwise (bool): Depthwise-separable convs in the CSP layers.
            Defaults to True.
        norm_cfg (dict): Norm layer. Defaults to BN.
        act_cfg (dict): Activation. Defaults to HSwish, as PicoDet.
        init_cfg (dict, optional): Initialisation config.

    Example:
        >>> import torch
        >>> neck = LCPAN([192, 384, 768], out_channels=96)
        >>> feats = [torch.rand(1, c, 40 // 2**i, 40 // 2**i)
        ...          for i, c in enumerate([192, 384, 768])]
        >>> [tuple(o.shape) for o in neck(feats)]
        [(1, 96, 40, 40), (1, 96, 20, 20), (1, 96, 10, 10), (1, 96, 5, 5)]
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int = 96,
                 num_extra_levels: int = 1,
                 kernel_size: int = 5,
                 num_csp_blocks: int = 1,
                 use_depthwise: bool = True,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='HSwish'),
                 init_cfg=dict(
                     type='Kaiming',
                     layer='Conv2d',
                     a=5**0.5,
                     distribution='uniform',
                     mode='fan_in',
                     nonlinearity='leaky_relu')) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = list(in_channels)
        if len(in_channels) < 1:
            raise ValueError('LCPAN needs at least one input, got '
                             f'in_channels={in_channels}')
        if num_extra_levels < 0:
            raise ValueError(
                f'num_extra_levels must be >= 0, got {num_extra_levels}')
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_extra_levels = num_extra_levels
        conv_kw = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        csp_kw = dict(
            num_blocks=num_csp_blocks,
            add_identity=False,
            use_depthwise=use_depthwise,
            **conv_kw)

        def down_conv() -> nn.Module:
            return DepthwiseSeparableConvModule(
                out_channels,
                out_channels,
                kernel_size,
                stride=2,
                padding=kernel_size // 2,
                **conv_kw)

        n = len(in_channels)
        self.reduce_layers = nn.ModuleList(
            ConvModule(c, out_channels, 1, **conv_kw) for c in in_channels)
        self.top_down_blocks = nn.ModuleList(
            CSPLayer(out_channels * 2, out_channels, **csp_kw)
            for _ in range(n - 1))
        self.downsamples = nn.ModuleList(down_conv() for _ in range(n - 1))
        self.bottom_up_blocks = nn.ModuleList(
            CSPLayer(out_channels * 2, out_channels, **csp_kw)
            for _ in range(n - 1))
        self.extra_in_convs = nn.ModuleList(
            down_conv() for _ in range(num_extra_levels))
        self.extra_out_convs = nn.ModuleList(
            down_conv() for _ in range(num_extra_levels))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse the levels; returns ``len(inputs) + num_extra_levels`` maps."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(
                f'LCPAN was built for {len(self.in_channels)} inputs '
                f'(in_channels={self.in_channels}), got {len(inputs)}')
        feats = [conv(x) for conv, x in zip(self.reduce_layers, inputs)]
        n = len(feats)
        # top-down: coarse to fine
        inner: List[Tensor] = [feats[-1]]
        for i in range(n - 1, 0, -1):
            low = feats[i - 1]
            up = F.interpolate(inner[0], size=low.shape[-2:], mode='nearest')
            block = self.top_down_blocks[n - 1 - i]
            inner.insert(0, block(torch.cat([up, low], 1)))
        # bottom-up: fine to coarse
        outs: List[Tensor] = [inner[0]]
        for i in range(n - 1):
            down = self.downsamples[i](outs[-1])
            outs.append(self.bottom_up_blocks[i](
                torch.cat([down, inner[i + 1]], 1)))
        # extra levels: strided conv of the last input + of the last output
        top = feats[-1]
        for conv_in, conv_out in zip(self.extra_in_convs,
                                     self.extra_out_convs):
            top = conv_in(top)
            outs.append(top + conv_out(outs[-1]))
        return tuple(outs)
