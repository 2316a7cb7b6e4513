# Fine-tune PP-LCNetV2-base, initialised from PaddleClas's ImageNet weights,
# on your own images in class-per-folder layout (mmpretrain CustomDataset):
#
#   <data_root>/train/<class name>/*.jpg|png...
#   <data_root>/val/<class name>/*.jpg|png...
#
# Edit `data_root` and `num_classes` (or override them per run, see README).
# The backbone weights (PaddleClas's SSLD-distilled PPLCNetV2_base) are
# downloaded on first use into torch.hub's cache and converted while loading.
# Copy this file and edit the copy: its base is named by package (mmlcnetv2::),
# so a copy works anywhere.
_base_ = 'mmlcnetv2::cls/pplcnetv2-base_8xb256_in1k.py'

data_root = 'data/custom'
num_classes = 10
pretrained = 'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/legendary_models/PPLCNetV2_base_ssld_pretrained.pdparams'  # noqa: E501

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    # A new head for your classes; plain cross-entropy, top-1 only (top-5
    # would fail with fewer than 5 classes).
    head=dict(
        num_classes=num_classes,
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
data_preprocessor = dict(num_classes=num_classes)

# ImageNet-style augmentation and evaluation at 224, from the base config.
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# A short schedule for a pretrained backbone: lr 0.01 for a batch of 32
# (--auto-scale-lr scales it to yours), 1 warm-up epoch, cosine to 0.
optim_wrapper = dict(
    optimizer=dict(lr=0.01, momentum=0.9, weight_decay=1e-4))
auto_scale_lr = dict(base_batch_size=32)
max_epochs = 20
param_scheduler = [
    # LinearWarmupLR (mmlcnetv2): LinearLR that, on an epoch of one
    # iteration, still reaches the full lr before the cosine starts.
    dict(type='LinearWarmupLR', start_factor=0.1, by_epoch=True, begin=0,
         end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=0,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='accuracy/top1'))
custom_hooks = [dict(type='TrainingCurveHook')]
