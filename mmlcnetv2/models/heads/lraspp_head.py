# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""LR-ASPP with a global image pool, for backbones with stride-32 outputs."""
import torch.nn as nn
from mmengine.registry import MODELS  # root: seen by mmseg's registry
from mmseg.models.decode_heads import LRASPPHead


@MODELS.register_module()
class GlobalPoolLRASPPHead(LRASPPHead):
    """mmseg's ``LRASPPHead`` with a global average pool as its image pool.

    mmseg's head pools with a fixed ``AvgPool2d(49, stride=(16, 20))``, made
    for MobileNetV3-d8, whose dilated last stage is at stride 8 (64x128 on a
    512x1024 crop). PP-LCNetV2 is not dilated: its last stage is at stride 32
    (16x32 on that crop, 4x4 on a 128x128 image), smaller than the kernel,
    and the fixed pool fails. A global pool is what the LR-ASPP paper trains
    with and what torchvision's ``LRASPP`` uses; it works at any input size
    and exports to ONNX/OpenVINO as ``GlobalAveragePool``. Everything else,
    parameters and state-dict keys included, is ``LRASPPHead``'s.

    Args:
        **kwargs: ``LRASPPHead``'s arguments (``in_channels`` has three
            entries: two skips, then the deepest feature map).

    Example:
        >>> import torch
        >>> head = GlobalPoolLRASPPHead(
        ...     in_channels=(128, 256, 1024), in_index=(0, 1, 2),
        ...     channels=128, input_transform='multiple_select',
        ...     num_classes=19)
        >>> feats = [torch.rand(1, 128, 32, 32), torch.rand(1, 256, 16, 16),
        ...          torch.rand(1, 1024, 4, 4)]
        >>> head(feats).shape
        torch.Size([1, 19, 32, 32])
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_pool[0] = nn.AdaptiveAvgPool2d(1)
