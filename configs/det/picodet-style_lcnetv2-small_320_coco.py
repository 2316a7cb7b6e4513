# A PicoDet-style detector on PP-LCNetV2-small, 320x320, COCO.
# PaddleDetection's PicoDet-S-320 recipe (LCPAN 96 channels, 4 levels,
# PicoHead with 2 depthwise-separable convs per level, reg_max 7, 300 epochs
# of SGD with cosine decay, EMA, multi-scale 256..384) with our backbone and
# mmdet's dynamic soft-label assigner + QFL; see the README for what differs.
#
#   python tools/train.py configs/det/picodet-style_lcnetv2-small_320_coco.py
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)

# ImageNet weights: PaddleClas's PPLCNetV2_small, downloaded on first use
# and converted while loading (see configs/det/retinanet_lcnetv2.py). Training
# from scratch: --cfg-options model.backbone.init_cfg=None
pretrained = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/PPLCNetV2_small_pretrained.pdparams'  # noqa: E501
arch = 'small'
backbone_channels = [192, 384, 768]  # stages 1..3 of PPLCNetV2-small
neck_channels = 96
head_convs = 2
img_scale = (320, 320)
train_sizes = (256, 384)  # multi-scale training range, as PicoDet's
num_classes = 80
norm_cfg = dict(type='BN')
act_cfg = dict(type='HSwish')

model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        batch_augments=[
            dict(
                type='BatchSyncRandomResize',
                random_size_range=train_sizes,
                size_divisor=32,
                interval=1)
        ]),
    backbone=dict(
        type='PPLCNetV2',
        arch=arch,
        out_indices=(1, 2, 3),
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(
        type='LCPAN',
        in_channels=backbone_channels,
        out_channels=neck_channels,
        num_extra_levels=1,
        kernel_size=5,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    bbox_head=dict(
        type='PicoHead',
        num_classes=num_classes,
        in_channels=neck_channels,
        feat_channels=neck_channels,
        stacked_convs=head_convs,
        kernel_size=5,
        reg_max=7,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        anchor_generator=dict(
            type='MlvlPointGenerator', offset=0.5, strides=[8, 16, 32, 64]),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(
            type='QualityFocalLoss', use_sigmoid=True, beta=2.0,
            loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.5)),
    train_cfg=dict(
        assigner=dict(type='DynamicSoftLabelAssigner', topk=13),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.025,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PhotoMetricDistortion'),
    dict(
        type='MinIoURandomCrop',
        min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
        min_crop_size=0.3),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# PicoDet: 300 epochs, SGD momentum 0.9, lr 0.32 for a total batch of 256
# (4 GPUs x 64), 300 warm-up iterations from 0.1x, cosine to 0, weight decay
# 4e-5, EMA of the weights.
max_epochs = 300
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.32, momentum=0.9, weight_decay=4e-5),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=300),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, eta_min=0, convert_to_iter_based=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=256)
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0002,
        update_buffers=True,
        priority=49)
]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
