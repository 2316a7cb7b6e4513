# PP-LCNetV2-base on ImageNet-1k: PaddleClas's recipe in mmpretrain terms
# (ppcls/configs/ImageNet/PPLCNetV2/PPLCNetV2_base.yaml).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='PPLCNetV2', arch='base', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='PPLCNetV2Head',
        num_classes=1000,
        in_channels=1024,
        mid_channels=1280,
        dropout_rate=0.2,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5),
    ))

# Random-resized-crop 224 + flip for training; resize-short 256 + center-crop
# 224 for evaluation, ImageNet mean/std: as the inherited dataset base has it.
# Not ported: PaddleClas's MultiScaleSampler (160..320 px training scales,
# batch scaled per scale); mmpretrain has no equivalent sampler.
train_dataloader = dict(batch_size=256, num_workers=8)
val_dataloader = dict(batch_size=256, num_workers=8)
test_dataloader = val_dataloader

# SGD, lr 0.8 for a total batch of 2048 (linear scaling: --auto-scale-lr),
# weight decay 4e-5 with none on BN (PaddleClas: L2Decay(0) on BN params).
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.8, momentum=0.9, weight_decay=4e-5, nesterov=False),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(base_batch_size=2048)

# 5 warm-up epochs, then cosine to 0 over the remaining 475 of 480.
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=475,
        eta_min=0,
        by_epoch=True,
        begin=5,
        end=480),
]
train_cfg = dict(by_epoch=True, max_epochs=480, val_interval=10)
val_cfg = dict()
test_cfg = dict()
