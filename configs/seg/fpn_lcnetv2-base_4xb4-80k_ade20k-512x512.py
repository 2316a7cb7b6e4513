# Semantic FPN on PP-LCNetV2-base, ADE20K 512x512, 4 GPUs x 4 images, 80k
# iterations: mmseg's sem_fpn recipe (mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-
# 512x512.py on the 80k schedule), to compare with the LR-ASPP configs.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)

# ImageNet weights: PaddleClas's SSLD-distilled PPLCNetV2_base, downloaded on
# first use into torch.hub's cache and converted while loading (see the
# README, "Weights"); to train from scratch instead:
# --cfg-options model.backbone.init_cfg=None
pretrained = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/PPLCNetV2_base_ssld_pretrained.pdparams'  # noqa: E501

# Plain BN instead of the bases' SyncBN, so CPU and single-GPU runs work. For
# multi-GPU training add `--cfg-options sync_bn=torch` (mmengine's Runner then
# converts every BN to SyncBN when distributed).
norm_cfg = dict(type='BN', requires_grad=True)

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # the base's ResNet-50 URL; our backbone has init_cfg
    backbone=dict(
        _delete_=True,
        type='PPLCNetV2',
        arch='base',
        out_indices=(0, 1, 2, 3),  # strides 4..32
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512, 1024], out_channels=256, num_outs=4),
    decode_head=dict(num_classes=150, norm_cfg=norm_cfg))
