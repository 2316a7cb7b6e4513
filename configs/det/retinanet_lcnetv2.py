# RetinaNet with a PP-LCNetV2-base backbone on COCO: mmdet's
# retinanet_r50_fpn_1x_coco with the ResNet-50 replaced. Everything else
# (FPN to 256 channels, RetinaHead, 1x schedule, COCO data) is mmdet's.
#
#   python tools/train.py configs/det/retinanet_lcnetv2.py
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)

# ImageNet weights of the backbone: PaddleClas's SSLD-distilled
# PPLCNetV2_base (80.07 top-1), downloaded on first use into torch.hub's
# cache ($TORCH_HOME/hub/checkpoints) and converted while loading; offline,
# training stops before it starts with one line saying where to put the
# file. Other weights (a timm hub id such as timm/lcnetv2_base.ssld_in1k,
# a local .pdparams/.safetensors/.pth): --cfg-options pretrained=URL_OR_PATH
# (our tools apply a variable wherever the config uses it).
# Training from scratch: --cfg-options model.backbone.init_cfg=None; the
# backbone then trains whole (without weights it turns frozen_stages and
# norm_eval off, and logs so).
pretrained = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/PPLCNetV2_base_ssld_pretrained.pdparams'  # noqa: E501

model = dict(
    backbone=dict(
        _delete_=True,
        type='PPLCNetV2',
        arch='base',
        out_indices=(1, 2, 3),  # strides 8, 16, 32: 256, 512, 1024 channels
        # Like the ResNet-50 it replaces: stem and first stage frozen, BN
        # statistics frozen (plain BN: 2 images per GPU are too few for it).
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # Three backbone levels (R50 gave four from stride 4): start at the first,
    # two extra convs on the last input give P6, P7 → strides 8..128.
    neck=dict(in_channels=[256, 512, 1024], start_level=0, num_outs=5))
