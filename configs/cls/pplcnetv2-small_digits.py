# PP-LCNetV2-small from scratch on scikit-learn's handwritten digits
# (real 8x8 scans upscaled to 64x64; make them with tools/data/make_digits.py).
# A quick, offline, end-to-end check of training: >= 95% val top-1 in a few
# minutes on 2 CPU cores (see README).
_base_ = './pplcnetv2-small_8xb256_in1k.py'

data_root = 'data/digits'
num_classes = 10

model = dict(
    head=dict(
        num_classes=num_classes,
        dropout_rate=0.1,
        loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))

# Grey digits on black; no flips (a mirrored 2 is not a 2), mild crops.
data_preprocessor = dict(
    num_classes=num_classes, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.8, 1.0),
        aspect_ratio_range=(0.8, 1.25)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# AdamW (converges in few epochs from scratch; SGD needed many more here),
# one warm-up epoch, then cosine decay; no weight decay on BN (inherited).
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=4e-3, weight_decay=0.01))
auto_scale_lr = dict(base_batch_size=16)
max_epochs = 14
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
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1,
                    save_best='accuracy/top1'))
custom_hooks = [dict(type='TrainingCurveHook')]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
