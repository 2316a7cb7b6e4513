# LR-ASPP on PP-LCNetV2-base, Cityscapes 512x1024 crops, 4 GPUs x 4 images,
# 320k iterations: mmseg's MobileNetV3 LR-ASPP recipe
# (mmseg::mobilenet_v3/mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024.py)
# with our backbone.
_base_ = [
    'mmseg::_base_/models/lraspp_m-v3-d8.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_320k.py',
]
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)

# ImageNet weights: PaddleClas's SSLD-distilled PPLCNetV2_base, downloaded on
# first use into torch.hub's cache and converted while loading (see the
# README, "Weights"); to train from scratch instead:
# --cfg-options model.backbone.init_cfg=None
pretrained = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/PPLCNetV2_base_ssld_pretrained.pdparams'  # noqa: E501

# Plain BN (the bases have SyncBN, which needs a distributed GPU run), so CPU
# and single-GPU runs work. For multi-GPU training add
# `--cfg-options sync_bn=torch` (mmengine's Runner then converts every BN to
# SyncBN when distributed) or set both norm_cfg types to 'SyncBN'.
backbone_norm_cfg = dict(type='BN', requires_grad=True)  # PaddleClas's eps
head_norm_cfg = dict(type='BN', eps=0.001, requires_grad=True)  # the base's

crop_size = (512, 1024)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='PPLCNetV2',
        arch='base',
        # Strides 4, 8 and 32 (channels 128, 256, 1024): two skips and the
        # deepest map, as mmseg's MobileNetV3 LR-ASPP takes strides 4, 8, 8.
        out_indices=(0, 1, 3),
        norm_cfg=backbone_norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(
        # LRASPPHead with a global image pool: mmseg's fixed 49x49 pool needs
        # a dilated stride-8 backbone (see mmlcnetv2/models/heads).
        type='GlobalPoolLRASPPHead',
        in_channels=(128, 256, 1024),
        in_index=(0, 1, 2),
        channels=128,
        branch_channels=(32, 64),
        norm_cfg=head_norm_cfg))

train_dataloader = dict(batch_size=4, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader
