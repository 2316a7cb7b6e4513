# LR-ASPP on PP-LCNetV2-small, trained from scratch on the embedded shapes_seg
# dataset (192x192 images; background + circle/square/triangle/star) in a few
# minutes on a 2-core CPU. It is the custom-data config with its block edited.
#
#   python tools/data/make_shapes_seg.py
#   python tools/train.py configs/seg/lraspp_lcnetv2-small_shapes-demo.py
#   python tools/test.py configs/seg/lraspp_lcnetv2-small_shapes-demo.py \
#       work_dirs/lraspp_lcnetv2-small_shapes-demo/iter_400.pth \
#       --show-dir vis
_base_ = ['./lraspp_lcnetv2-base_custom.py']

# ---- the custom config's block, edited --------------------------------------
data_root = 'data/shapes_seg'
classes = ('background', 'circle', 'square', 'triangle', 'star')
palette = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200],
           [255, 225, 25]]
img_suffix, seg_map_suffix = '.jpg', '.png'
reduce_zero_label = False
crop_size = (128, 128)  # training crops of the 192x192 images
img_scale = (192, 192)
# -----------------------------------------------------------------------------

num_classes = len(classes)
metainfo = dict(classes=classes, palette=palette)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='small',
        # No ImageNet weights offline; the shapes are learnable from scratch.
        init_cfg=None),
    decode_head=dict(
        in_channels=(96, 192, 768),  # small's strides 4, 8, 32
        num_classes=num_classes))

# Lighter augmentation than the custom config's: scale jitter, 128x128 crops
# and flips (the shapes' colours are random already). Tested on the whole
# 192x192 images.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=num_classes),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='CheckSegMap', num_classes=num_classes),
    dict(type='PackSegInputs'),
]


def _dataset(split, pipeline):
    return dict(
        type='BaseSegDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
        img_suffix=img_suffix,
        seg_map_suffix=seg_map_suffix,
        reduce_zero_label=reduce_zero_label,
        metainfo=metainfo,
        pipeline=pipeline)


train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=_dataset('train', train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=1, dataset=_dataset('val', test_pipeline))
test_dataloader = val_dataloader

# From scratch in few steps: AdamW with a short warm-up, then poly decay.
iters = 400
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(
        type='PolyLR',
        eta_min=1e-5,
        power=0.9,
        begin=50,
        end=iters,
        by_epoch=False),
]
train_cfg = dict(max_iters=iters, val_interval=200)
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=200, max_keep_ckpts=1, save_best='mIoU'))
randomness = dict(seed=0)
# Overlays (tools/test.py --show-dir) at half opacity, so the image shows
# through the black of the background class.
visualizer = dict(alpha=0.5)
