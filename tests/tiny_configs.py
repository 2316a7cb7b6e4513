"""Tiny configs the deploy tests share, as config text: the tests write
them to files, as a user's config is one, and a test that needs another
variant inherits one with ``_base_`` and overrides what it changes.

Both use PP-LCNetV2 at scale 0.25, small enough to build, train or export
in seconds.
"""

#: An mmpretrain classifier on a class-per-folder dataset. Placeholders:
#: ``{root}`` (the data folder) and ``{classes}`` (a tuple's repr).
CLASSIFIER = """
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
data_preprocessor = dict(mean=[123.675, 116.28, 103.53],
                         std=[58.395, 57.12, 57.375], to_rgb=True)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='PPLCNetV2', arch=dict(scale=0.25,
                                              depths=[1, 1, 2, 1])),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='PPLCNetV2Head', num_classes=3, in_channels=256,
              mid_channels=64))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=2,
    dataset=dict(type='CustomDataset', data_root='{root}/train',
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='RandomResizedCrop', scale=64),
                           dict(type='PackInputs')]))
test_dataloader = dict(
    batch_size=2,
    dataset=dict(type='CustomDataset', data_root='{root}/train',
                 metainfo=dict(classes={classes}), pipeline=test_pipeline))
"""

#: An mmdet RetinaNet with 2 classes. ``%`` placeholders: max detections
#: per image, then the test resize (height, width).
RETINANET = """
default_scope = 'mmdet'
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                           pad_size_divisor=32),
    backbone=dict(type='PPLCNetV2', arch=dict(scale=0.25,
                                              depths=[1, 1, 1, 1]),
                  out_indices=(1, 2, 3)),
    neck=dict(type='FPN', in_channels=[64, 128, 256], out_channels=32,
              start_level=0, add_extra_convs='on_input', num_outs=4),
    bbox_head=dict(
        type='RetinaHead', num_classes=2, in_channels=32, stacked_convs=1,
        feat_channels=32,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                              scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                              strides=[8, 16, 32, 64]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4,
                        target_stds=[1.0] * 4),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(
        assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5,
                      neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type='PseudoSampler'), allowed_border=-1,
        pos_weight=-1, debug=False),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=%d))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(%d, %d), keep_ratio=True),
    dict(type='PackDetInputs')]
test_dataloader = dict(dataset=dict(
    type='CocoDataset', metainfo=dict(classes=('square', 'circle')),
    pipeline=test_pipeline))
"""


def randomize_weights(model) -> None:
    """Give a freshly built model non-trivial BN statistics and larger
    weights than its init, so that a fused export and int8 have something
    to get wrong (a model at init is nearly constant)."""
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
        elif isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.normal_(m.weight, std=0.2)
