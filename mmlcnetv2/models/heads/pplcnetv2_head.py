# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""The PP-LCNetV2 classification head."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from mmengine.registry import MODELS  # root: seen by mmpretrain, mmdet, mmseg
from mmpretrain.models.heads import ClsHead


@MODELS.register_module()
class PPLCNetV2Head(ClsHead):
    """The reference head after global pooling: expand -> act -> dropout -> fc.

    PaddleClas applies a 1x1 conv without bias (``last_conv``) to the pooled
    feature; on a 1x1 map that is a bias-free linear layer, which is what
    ``expand`` is. Use it behind mmpretrain's ``GlobalAveragePooling`` neck.

    Dropout is torch's (scaled at train time). PaddleClas's is
    ``downscale_in_infer`` (scaled at eval time); the two nets agree when the
    fc weight is multiplied by ``1 - dropout_rate``, which the Paddle weight
    converter does.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the pooled backbone feature.
        mid_channels (int): Width of the expansion. Defaults to 1280.
        dropout_rate (float): Dropout before the fc, in [0, 1).
            Defaults to 0.2.
        act_cfg (dict): Activation after the expansion.
            Defaults to ``dict(type='ReLU')``.
        init_cfg (dict, optional): Initialization config.
            Defaults to normal init of the linear layers.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mid_channels: int = 1280,
                 dropout_rate: float = 0.2,
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        for name, value in (('num_classes', num_classes),
                            ('in_channels', in_channels),
                            ('mid_channels', mid_channels)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(
                    f'{name} must be a positive int, got {value!r}')
        if not 0 <= dropout_rate < 1:
            raise ValueError(
                f'dropout_rate must be in [0, 1), got {dropout_rate!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.expand = nn.Linear(in_channels, mid_channels, bias=False)
        self.act = build_activation_layer(act_cfg)
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(mid_channels, num_classes)

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The last pooled feature after expansion, activation, dropout."""
        feat = feats[-1]
        if feat.dim() != 2 or feat.shape[1] != self.in_channels:
            raise ValueError(
                f'PPLCNetV2Head expects pooled features of shape (N, '
                f'{self.in_channels}) (put GlobalAveragePooling before it), '
                f'got {tuple(feat.shape)}')
        return self.dropout(self.act(self.expand(feat)))

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.pre_logits(feats))
