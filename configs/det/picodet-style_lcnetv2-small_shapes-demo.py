# The main demo (`make demo`): the PicoDet-style detector (PP-LCNetV2-small +
# LCPAN + PicoHead) trained from scratch on the embedded shapes dataset
# (tools/data/make_shapes.py) in minutes on 2 CPU cores. It inherits the
# COCO recipe (picodet-style_lcnetv2-small_320_coco.py) and changes what a
# few minutes on 2 cores cannot afford:
#   - 192x192 input (the 256x256 images downscaled; the objects are 19..84 px
#     there) instead of 320 with multi-scale 256..384: at 128x128 the small
#     objects' class was often wrong (a small star called a triangle), and
#     192 with fewer iterations beat 128 with more for the same CPU time;
#   - trained from scratch (no ImageNet weights offline);
#   - 5 epochs of AdamW (batch 8, lr 1e-2, 50-iteration warm-up, cosine
#     decay) instead of 300 epochs of SGD + EMA: 500 iterations, about 2.5
#     minutes of training on 2 cores of an AVX-512 EPYC (Zen 4), an
#     estimated 4-5 on the AVX2-only class (docs/detection.md, "The shapes
#     demo"); EMA did not help in so few iterations;
#   - channels-last convolutions (ChannelsLastHook) and fused AdamW: the
#     same training, a quarter less time per step on a CPU;
#   - horizontal and vertical flips only (no colour distortion, crops or
#     multi-scale: not tried in so few epochs);
#   - images loaded in the training process (num_workers=0).
#
#   python tools/data/make_shapes.py
#   python tools/train.py configs/det/picodet-style_lcnetv2-small_shapes-demo.py
_base_ = './picodet-style_lcnetv2-small_320_coco.py'

dataset_type = 'CocoDataset'
data_root = 'data/shapes/'
classes = ('circle', 'square', 'triangle', 'star')  # make_shapes.CLASSES
metainfo = dict(
    classes=classes,
    palette=[(220, 20, 60), (0, 130, 230), (250, 170, 30), (120, 200, 80)])
img_scale = (192, 192)

model = dict(
    data_preprocessor=dict(batch_augments=None),  # no multi-scale
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=len(classes)),
    test_cfg=dict(score_thr=0.025, nms_pre=1000, max_per_img=100))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=[0.5, 0.5],
         direction=['horizontal', 'vertical']),
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
    _delete_=True,
    batch_size=8,
    # Loading in the training process: decoding a 256x256 JPEG costs ~1 ms,
    # and a worker process would compete with training for the 2 cores.
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        # keep images without objects: they teach what background is
        filter_cfg=dict(filter_empty_gt=False, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 5  # 100 iterations per epoch at 800 images, batch 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # fused: one kernel per step for all parameters (torch's default on a
    # CPU is a loop over them)
    optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05, fused=True),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs,
         T_max=max_epochs, eta_min_ratio=0.02, convert_to_iter_based=True)
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
custom_hooks = [dict(type='ChannelsLastHook')]  # depthwise convs 2-3x faster

default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None),
    # `tools/test.py ... --show-dir` or the demo set draw/test_out_dir.
    visualization=dict(type='DetVisualizationHook', score_thr=0.4))
log_processor = dict(window_size=25)
# A fixed seed: the demo's numbers are reproducible (up to float summation
# order across thread counts and CPU classes).
randomness = dict(seed=0)
