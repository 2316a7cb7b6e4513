# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
# The network is a port of PaddleClas's ``pp_lcnet_v2.py`` (Apache-2.0,
# copyright PaddlePaddle Authors); see NOTICE.
"""PP-LCNetV2 backbone, as in PaddleClas's ``pp_lcnet_v2.py``."""
import logging
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.registry import MODELS  # root: seen by mmpretrain, mmdet, mmseg
from mmpretrain.models.utils import SELayer, make_divisible
from torch.nn.modules.batchnorm import SyncBatchNorm, _BatchNorm

# The 1x1 conv of the SE block squeezes by this factor (reference: reduction=4).
SE_REDUCTION = 4
# The split pointwise conv's middle width is int(out * this), not rounded.
SPLIT_PW_RATIO = 0.5


def _width(channels: float) -> int:
    """A scaled width rounded as the reference does (to a multiple of 8)."""
    return make_divisible(channels, 8)


class StageSetting(NamedTuple):
    """One stage of the reference's ``NET_CONFIG``.

    ``channels`` is the unscaled width of the stage's first block input; the
    stage outputs twice that, scaled. ``kernel`` is the depthwise kernel.
    """
    channels: int
    kernel: int
    split_pw: bool
    use_rep: bool
    use_se: bool
    use_shortcut: bool


STAGE_SETTINGS: Tuple[StageSetting, ...] = (
    StageSetting(64, 3, False, False, False, False),
    StageSetting(128, 3, False, False, False, False),
    StageSetting(256, 5, True, True, True, False),
    StageSetting(512, 5, False, True, False, True),
)


def _fuse_bn_tensor(kernel: torch.Tensor, running_mean: torch.Tensor,
                    running_var: torch.Tensor, gamma: torch.Tensor,
                    beta: torch.Tensor,
                    eps: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm into the preceding bias-free conv."""
    std = (running_var + eps).sqrt()
    scale = gamma / std
    return kernel * scale.reshape(-1, 1, 1, 1), beta - running_mean * scale


def _pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a square kernel symmetrically to ``size`` x ``size``."""
    pad = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, [pad, pad, pad, pad])


class RepDepthwise(BaseModule):
    """Depthwise convs of kernel 5, 3 (and 1 at stride 1) summed, then act.

    Each branch is conv + BN without activation; there is no identity branch.
    :meth:`switch_to_deploy` folds all branches into one conv with bias
    (``dw_reparam``) and deletes them.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Largest kernel; branches use ``kernel_size``,
            ``kernel_size - 2``, ... down to 1 (1 only at stride 1).
        stride (int): Stride of every branch.
        norm_cfg (dict): Norm layer of the branches.
        act_cfg (dict): Activation after the sum.
        deploy (bool): Build the fused conv directly.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 channels: int,
                 kernel_size: int,
                 stride: int,
                 norm_cfg: dict,
                 act_cfg: dict,
                 deploy: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.deploy = deploy
        self.norm_eps = norm_cfg.get('eps', 1e-5)
        self.branch_kernels = [
            k for k in range(kernel_size, 0, -2) if not (k == 1 and stride != 1)
        ]
        if deploy:
            self.dw_reparam = self._make_reparam_conv()
        else:
            self.dw_branches = nn.ModuleList(
                ConvModule(
                    channels,
                    channels,
                    k,
                    stride=stride,
                    padding=(k - 1) // 2,
                    groups=channels,
                    bias=False,
                    norm_cfg=norm_cfg,
                    act_cfg=None) for k in self.branch_kernels)
        self.act = build_activation_layer(act_cfg)

    def _make_reparam_conv(self) -> nn.Conv2d:
        return nn.Conv2d(
            self.channels,
            self.channels,
            self.kernel_size,
            stride=self.stride,
            padding=(self.kernel_size - 1) // 2,
            groups=self.channels,
            bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.act(self.dw_reparam(x))
        out = self.dw_branches[0](x)
        for branch in self.dw_branches[1:]:
            out = out + branch(x)
        return self.act(out)

    def _branch_tensors(self, index: int, get):
        """Conv weight and BN tensors of branch ``index`` through ``get``."""
        name = f'dw_branches.{index}'
        return (get(f'{name}.conv.weight'), get(f'{name}.bn.running_mean'),
                get(f'{name}.bn.running_var'), get(f'{name}.bn.weight'),
                get(f'{name}.bn.bias'))

    def _equivalent_kernel_bias(self, get):
        """Sum of the BN-folded, zero-padded branch kernels and biases."""
        kernel, bias = 0, 0
        for i in range(len(self.branch_kernels)):
            k, b = _fuse_bn_tensor(*self._branch_tensors(i, get),
                                   self.norm_eps)
            kernel = kernel + _pad_kernel(k, self.kernel_size)
            bias = bias + b
        return kernel, bias

    def switch_to_deploy(self) -> None:
        """Fold the branches into ``dw_reparam`` and delete them."""
        if self.deploy:
            return
        for branch in self.dw_branches:
            if isinstance(branch.bn, SyncBatchNorm):
                raise RuntimeError(
                    'switch_to_deploy() cannot fold SyncBatchNorm; convert it '
                    'to BatchNorm2d first (mmengine.model.revert_sync_batchnorm'
                    '(model)), then call switch_to_deploy().')
        params = dict(self.named_parameters())
        params.update(self.named_buffers())
        with torch.no_grad():
            kernel, bias = self._equivalent_kernel_bias(params.__getitem__)
            self.dw_reparam = self._make_reparam_conv().to(kernel)
            self.dw_reparam.weight.copy_(kernel)
            self.dw_reparam.bias.copy_(bias)
        del self.dw_branches
        self.deploy = True

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs):
        # Never load one form into the other silently: an unfused checkpoint
        # is fused on the fly; a fused one cannot be un-fused.
        has_branches = f'{prefix}dw_branches.0.conv.weight' in state_dict
        has_reparam = f'{prefix}dw_reparam.weight' in state_dict
        if self.deploy and has_branches and not has_reparam:
            self._fuse_state_dict(state_dict, prefix)
        elif not self.deploy and has_reparam and not has_branches:
            raise RuntimeError(
                f'{prefix}dw_reparam.weight is in the checkpoint: it holds a '
                'fused (deploy) PPLCNetV2, which cannot be loaded into an '
                'unfused model. Build the model with deploy=True (e.g. the '
                'config\'s deploy variant) or load an unfused checkpoint.')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _fuse_state_dict(self, state_dict: dict, prefix: str) -> None:
        kernel, bias = self._equivalent_kernel_bias(
            lambda key: state_dict[prefix + key].float())
        for key in [k for k in state_dict if k.startswith(prefix + 'dw_branches.')]:
            del state_dict[key]
        state_dict[f'{prefix}dw_reparam.weight'] = kernel
        state_dict[f'{prefix}dw_reparam.bias'] = bias
        print_log(
            f'{prefix}dw_branches: unfused weights were fused while loading '
            'into a deploy model.', logger='current')


class LCNetV2Block(BaseModule):
    """Depthwise (plain or re-parameterizable) -> SE -> pointwise -> shortcut.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise conv.
        kernel_size (int): Depthwise kernel size.
        split_pw (bool): Two pointwise convs through ``int(out * 0.5)``
            channels instead of one.
        use_rep (bool): Re-parameterizable multi-kernel depthwise conv.
        use_se (bool): SE block (on the input channels) after the depthwise.
        use_shortcut (bool): Residual add, active only at stride 1 with
            ``in_channels == out_channels``. No activation follows the add.
        norm_cfg (dict): Norm layers.
        act_cfg (dict): Activation of the pointwise convs, of the rep
            depthwise sum and inside the SE block. The plain depthwise conv always uses ReLU, as the
            reference does.
        with_cp (bool): Checkpoint the block to save memory.
        deploy (bool): Build the rep depthwise conv fused.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 kernel_size: int,
                 split_pw: bool = False,
                 use_rep: bool = False,
                 use_se: bool = False,
                 use_shortcut: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.with_cp = with_cp
        self.use_shortcut = (
            use_shortcut and stride == 1 and in_channels == out_channels)
        if use_rep:
            self.dw_conv = RepDepthwise(
                in_channels,
                kernel_size,
                stride,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                deploy=deploy)
        else:
            self.dw_conv = ConvModule(
                in_channels,
                in_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=in_channels,
                bias=False,
                norm_cfg=norm_cfg,
                act_cfg=dict(type='ReLU'))
        self.se = _make_se(in_channels, act_cfg) if use_se else None
        pw = dict(kernel_size=1, bias=False, norm_cfg=norm_cfg,
                  act_cfg=act_cfg)
        if split_pw:
            mid_channels = int(out_channels * SPLIT_PW_RATIO)
            self.pw_conv = nn.Sequential(
                ConvModule(in_channels, mid_channels, **pw),
                ConvModule(mid_channels, out_channels, **pw))
        else:
            self.pw_conv = ConvModule(in_channels, out_channels, **pw)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dw_conv(x)
        if self.se is not None:
            out = self.se(out)
        out = self.pw_conv(out)
        if self.use_shortcut:
            out = out + x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


def _make_se(channels: int, act_cfg: dict) -> nn.Module:
    # mmpretrain's SELayer is the reference's SEModule: avg-pool, 1x1 conv
    # with bias, act, 1x1 conv with bias, sigmoid (a true sigmoid, though the
    # reference names it ``hardsigmoid``), multiply.
    return SELayer(
        channels,
        squeeze_channels=channels // SE_REDUCTION,
        bias=True,
        act_cfg=(act_cfg, dict(type='Sigmoid')))


# Checkpoint names mmengine resolves itself (model zoos of other networks,
# storage backends); URLs and hub ids are fetched by the converters.
MMENGINE_CHECKPOINT_PREFIXES = ('open-mmlab://', 'openmmlab://',
                                'torchvision://', 'mmcls://', 'pavi://',
                                's3://')


def split_pretrained(init_cfg) -> Tuple[Optional[dict], object]:
    """The local ``Pretrained`` entry of ``init_cfg`` (which the converters
    load) and the rest (which mmengine does).

    Returns:
        tuple: ``(pretrained cfg or None, init_cfg without it)``.
    """
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    pretrained, others = None, []
    for cfg in cfgs:
        if (pretrained is None and isinstance(cfg, dict)
                and cfg.get('type') == 'Pretrained' and cfg.get('checkpoint')
                and not str(cfg['checkpoint']).startswith(
                    MMENGINE_CHECKPOINT_PREFIXES)):
            pretrained = cfg
        elif cfg is not None:
            others.append(cfg)
    if pretrained is None:
        return None, init_cfg
    return pretrained, (others or None)


def _has_pretrained(init_cfg) -> bool:
    """Whether ``init_cfg`` (a dict, a list of them or None) loads weights:
    has a ``Pretrained`` entry with a checkpoint."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
               and cfg.get('checkpoint') for cfg in cfgs)


@MODELS.register_module()
class PPLCNetV2(BaseModule):
    """PP-LCNetV2 backbone.

    A port of PaddleClas's ``PPLCNetV2`` (`PP-LCNetV2 design
    <https://github.com/PaddlePaddle/PaddleClas/blob/release/2.6/docs/en/models/PP-LCNetV2_en.md>`_):
    a stem (3x3 conv, stride 2, then a depthwise-separable block) and four
    stages at strides 4, 8, 16 and 32. Stages 3 and 4 use re-parameterizable
    5/3/1 depthwise convs, stage 3 split pointwise convs and SE, stage 4 a
    shortcut. The classification head (1x1 conv to 1280, act, dropout, fc) is
    :class:`mmlcnetv2.models.PPLCNetV2Head`.

    The stage numbering is the reference code's: index 0 is ``stage1`` at
    stride 4 (the design document counts the stem as a stage).

    Args:
        arch (str | dict): ``'small'``, ``'base'``, ``'large'``, or a dict
            with ``scale`` (float > 0, the width multiplier) and ``depths``
            (four positive ints, the blocks per stage). Defaults to
            ``'base'``.
        in_channels (int): Channels of the input image. Defaults to 3.
        out_indices (int | Sequence[int]): Stages whose outputs are returned,
            0..3 (strides 4..32); negatives count from the end.
            Defaults to ``(3, )``.
        frozen_stages (int): Stages to freeze (eval mode, no gradients):
            -1 freezes nothing, 0 the stem, ``i`` the stem and stages
            ``0..i-1``; at most 4. Only with pretrained weights (a
            ``Pretrained`` ``init_cfg``): without them it becomes -1, with
            one logged warning (a random stem that never trains cripples
            the model). Defaults to -1.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation of the stem conv, the pointwise convs,
            the rep depthwise sums and the SE blocks (``ReLU`` as in the reference, or e.g.
            ``HSwish``). The plain depthwise convs of the stem and stages
            0-1 keep ReLU whatever this is, as the reference does.
            Defaults to ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode while training
            (freezes running statistics). Like ``frozen_stages``, only with
            pretrained weights: without them it becomes False, with the
            same warning (the statistics would stay 0 and 1).
            Defaults to False.
        with_cp (bool): Use checkpointing in each block to save memory at
            the cost of speed. Defaults to False.
        deploy (bool): Build the re-parameterized (fused) form directly.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config.

    Example:
        >>> import torch
        >>> from mmlcnetv2.models import PPLCNetV2
        >>> model = PPLCNetV2('base', out_indices=(0, 1, 2, 3)).eval()
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 128, 56, 56)
        (1, 256, 28, 28)
        (1, 512, 14, 14)
        (1, 1024, 7, 7)
    """

    arch_zoo: Dict[str, dict] = {
        'small': dict(scale=0.75, depths=(2, 2, 4, 2)),
        'base': dict(scale=1.0, depths=(2, 2, 6, 2)),
        'large': dict(scale=1.25, depths=(2, 2, 8, 2)),
    }
    num_stages = len(STAGE_SETTINGS)

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 deploy: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        self.check_args(arch, in_channels, out_indices, frozen_stages,
                        norm_eval, with_cp, deploy)
        frozen_stages, norm_eval = self._trainable_from_scratch(
            init_cfg, frozen_stages, norm_eval)
        self.arch_settings = self._parse_arch(arch)
        scale = self.arch_settings['scale']
        depths = self.arch_settings['depths']
        self.in_channels = in_channels
        self.out_indices = self._parse_out_indices(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deploy = deploy

        block = dict(norm_cfg=norm_cfg, act_cfg=act_cfg, with_cp=with_cp,
                     deploy=deploy)
        stem_channels = _width(32 * scale)
        stem_out = _width(64 * scale)
        self.stem = nn.Sequential(
            ConvModule(
                in_channels,
                stem_channels,
                3,
                stride=2,
                padding=1,
                bias=False,
                conv_cfg=conv_cfg,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            LCNetV2Block(stem_channels, stem_out, stride=1, kernel_size=3,
                         **block))

        self.stages = nn.ModuleList()
        self.out_channels: List[int] = []
        for setting, depth in zip(STAGE_SETTINGS, depths):
            out_channels = _width(setting.channels * 2 * scale)
            blocks = []
            for i in range(depth):
                blocks.append(
                    LCNetV2Block(
                        _width(setting.channels * scale)
                        if i == 0 else out_channels,
                        out_channels,
                        stride=2 if i == 0 else 1,
                        kernel_size=setting.kernel,
                        split_pw=setting.split_pw,
                        use_rep=setting.use_rep,
                        use_se=setting.use_se,
                        use_shortcut=setting.use_shortcut,
                        **block))
            self.stages.append(nn.Sequential(*blocks))
            self.out_channels.append(out_channels)

        self._freeze_stages()

    @classmethod
    def check_args(cls,
                   arch: Union[str, dict] = 'base',
                   in_channels: int = 3,
                   out_indices: Union[int, Sequence[int]] = (3, ),
                   frozen_stages: int = -1,
                   norm_eval: bool = False,
                   with_cp: bool = False,
                   deploy: bool = False,
                   **others) -> None:
        """Validate the arguments without building anything.

        ``__init__`` calls it first; ``mmlcnetv2.cli.checks`` calls it on a
        config's backbone dict before the Runner starts. Arguments not
        listed (``others``: the layer configs, ``init_cfg``) are checked by
        the layers that use them.

        Raises:
            ValueError | TypeError: Naming the argument, the value and what
                is allowed.
        """
        cls._parse_arch(arch)
        if isinstance(in_channels, bool) or not isinstance(
                in_channels, int) or in_channels < 1:
            raise ValueError(
                f'in_channels must be a positive int, got {in_channels!r}')
        cls._parse_out_indices(out_indices)
        if isinstance(frozen_stages, bool) or not isinstance(
                frozen_stages, int) or not -1 <= frozen_stages <= 4:
            raise ValueError(
                f'frozen_stages must be an int in -1..{cls.num_stages} '
                f'(-1: nothing, 0: the stem, i: the stem and stages '
                f'0..i-1), got {frozen_stages!r}')
        # A truthy string such as 'maybe' or 'False' would silently switch
        # the behaviour on.
        for name, value in (('norm_eval', norm_eval), ('with_cp', with_cp),
                            ('deploy', deploy)):
            if not isinstance(value, bool):
                raise ValueError(
                    f'{name} must be True or False, got {value!r}')

    @staticmethod
    def _trainable_from_scratch(init_cfg, frozen_stages: int,
                                norm_eval: bool) -> Tuple[int, bool]:
        """``frozen_stages`` and ``norm_eval`` as the backbone uses them:
        unchanged with pretrained weights (a ``Pretrained`` entry with a
        checkpoint in ``init_cfg``), else -1 and False, logged in one line.

        Why here: every tool that builds the model (ours, mmdet's, mmseg's
        and mmpretrain's ``tools/train.py``, the inferencers) builds the
        backbone, so the rule holds everywhere. A random stem and first
        stage would never train, and BN statistics frozen at 0 and 1 never
        fit the data ("from scratch" with a fine-tuning config).
        """
        if _has_pretrained(init_cfg) or (frozen_stages < 0
                                          and not norm_eval):
            return frozen_stages, norm_eval
        changed = ([f'frozen_stages={frozen_stages} -> -1']
                   if frozen_stages >= 0 else []) + (
                       ['norm_eval=True -> False'] if norm_eval else [])
        print_log(
            'PPLCNetV2 has no pretrained weights (init_cfg has no '
            f'Pretrained checkpoint), so all of it trains: '
            f'{", ".join(changed)}; to keep stages or BN statistics frozen, '
            "give the weights as init_cfg=dict(type='Pretrained', "
            "checkpoint=PATH, prefix='backbone.')",
            logger='current', level=logging.WARNING)
        return -1, False

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            if arch not in cls.arch_zoo:
                raise ValueError(f'Unknown arch {arch!r}: choose one of '
                                 f'{sorted(cls.arch_zoo)} or pass a dict '
                                 'with keys "scale" and "depths".')
            return dict(cls.arch_zoo[arch])
        if not isinstance(arch, dict):
            raise TypeError('arch must be a str or a dict with keys "scale" '
                            f'and "depths", got {type(arch).__name__}')
        if set(arch) != {'scale', 'depths'}:
            raise ValueError('A custom arch dict needs exactly the keys '
                             f'["depths", "scale"], got {sorted(arch)}')
        scale, depths = arch['scale'], arch['depths']
        if isinstance(scale, bool) or not isinstance(
                scale, (int, float)) or scale <= 0:
            raise ValueError(
                f'arch["scale"] must be a positive number, got {scale!r}')
        if (not isinstance(depths, (list, tuple))
                or len(depths) != cls.num_stages or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d >= 1
                    for d in depths)):
            raise ValueError(
                f'arch["depths"] must be {cls.num_stages} positive ints '
                f'(blocks per stage), got {depths!r}')
        return dict(scale=float(scale), depths=tuple(depths))

    @classmethod
    def _parse_out_indices(
            cls, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int) and not isinstance(out_indices, bool):
            out_indices = (out_indices, )
        if not isinstance(out_indices, (list, tuple)) or not out_indices:
            raise TypeError('out_indices must be an int or a non-empty '
                            f'sequence of ints, got {out_indices!r}')
        parsed = []
        for index in out_indices:
            if (isinstance(index, bool) or not isinstance(index, int)
                    or not -cls.num_stages <= index < cls.num_stages):
                raise ValueError(
                    f'out_indices entry {index!r} is out of range: allowed '
                    f'are 0..{cls.num_stages - 1} (stages at strides 4, 8, '
                    f'16, 32) or -{cls.num_stages}..-1.')
            parsed.append(index % cls.num_stages)
        return tuple(parsed)

    def _check_input(self, x: torch.Tensor) -> None:
        # Under tracing or compilation the shape entries are traced values:
        # comparing them records nothing in the graph and only warns
        # (TracerWarning). The example input was checked eagerly, and the
        # exported graph's own input shape rejects other channel counts.
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'PPLCNetV2 expects input of shape (N, {self.in_channels}, H, '
                f'W), got {tuple(x.shape)}')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self._check_input(x)
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for module in [self.stem, *self.stages[:self.frozen_stages]]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'PPLCNetV2':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> None:
        """Fuse every rep depthwise conv in place and delete its branches.

        The BN layers are folded with their running statistics, so the fused
        model equals the unfused one in eval mode. Allowed in training mode
        too (e.g. to fine-tune the fused form), where it likewise uses the
        running statistics. Idempotent. SyncBN must be reverted to BN first.
        """
        for module in self.modules():
            if isinstance(module, RepDepthwise):
                module.switch_to_deploy()
        self.deploy = True

    def init_weights(self) -> None:
        """Initialize; a local ``Pretrained`` ``init_cfg`` may name any file
        the converter reads (PaddleClas ``.pdparams``, timm / Hugging Face
        ``.safetensors`` or ``.pth``, our converted ``.pth``).

        It is converted while loading and must cover every tensor of this
        backbone with its shape (mmengine's ``PretrainedInit`` loads
        non-strictly and would leave a foreign file's tensors random); see
        :func:`mmlcnetv2.converters.load_pretrained`, which is found by
        name in mmengine's ``WEIGHT_INITIALIZERS`` (``ConvertedPretrained``):
        the converters build a PPLCNetV2 to learn its shapes, so the model
        does not import them.
        """
        from mmengine.registry import WEIGHT_INITIALIZERS
        pretrained, others = split_pretrained(self.init_cfg)
        if pretrained is None:
            super().init_weights()
            return
        init_cfg, self.init_cfg = self.init_cfg, others
        try:
            super().init_weights()
        finally:
            self.init_cfg = init_cfg
        WEIGHT_INITIALIZERS.build(dict(
            type='ConvertedPretrained',
            checkpoint=str(pretrained['checkpoint']),
            prefix=pretrained.get('prefix')))(self)
