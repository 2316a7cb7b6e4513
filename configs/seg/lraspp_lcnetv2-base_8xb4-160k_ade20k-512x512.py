# LR-ASPP on PP-LCNetV2-base, ADE20K (150 classes) 512x512 crops, 8 GPUs x 4
# images, 160k iterations: the Cityscapes recipe on mmseg's ADE20K base.
_base_ = [
    'mmseg::_base_/models/lraspp_m-v3-d8.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
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
backbone_norm_cfg = dict(type='BN', requires_grad=True)
head_norm_cfg = dict(type='BN', eps=0.001, requires_grad=True)

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        _delete_=True,
        type='PPLCNetV2',
        arch='base',
        out_indices=(0, 1, 3),  # strides 4, 8, 32; channels 128, 256, 1024
        norm_cfg=backbone_norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(
        type='GlobalPoolLRASPPHead',
        in_channels=(128, 256, 1024),
        in_index=(0, 1, 2),
        channels=128,
        branch_channels=(32, 64),
        num_classes=150,
        norm_cfg=head_norm_cfg))

train_dataloader = dict(batch_size=4, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader
