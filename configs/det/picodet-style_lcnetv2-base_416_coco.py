# A PicoDet-style detector on PP-LCNetV2-base, 416x416, COCO: the small
# config scaled as PicoDet-M-416 is (128-channel neck and head, 4 convs per
# head tower, multi-scale 352..480).
#
#   python tools/train.py configs/det/picodet-style_lcnetv2-base_416_coco.py
_base_ = './picodet-style_lcnetv2-small_320_coco.py'

pretrained = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/PPLCNetV2_base_ssld_pretrained.pdparams'  # noqa: E501
arch = 'base'
backbone_channels = [256, 512, 1024]
neck_channels = 128
head_convs = 4
img_scale = (416, 416)
train_sizes = (352, 480)

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='BatchSyncRandomResize',
            random_size_range=train_sizes,
            size_divisor=32,
            interval=1)
    ]),
    backbone=dict(
        arch=arch,
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=backbone_channels, out_channels=neck_channels),
    bbox_head=dict(
        in_channels=neck_channels,
        feat_channels=neck_channels,
        stacked_convs=head_convs))

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
