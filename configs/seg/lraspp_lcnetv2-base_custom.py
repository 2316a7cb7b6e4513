# LR-ASPP on PP-LCNetV2-base for your own data: a folder of images and a
# folder of masks with the same file stems (mask = single-channel PNG whose
# pixel values are class indices 0..N-1; 255 = ignore), mmseg's layout:
#
#   data/my_dataset/img_dir/train/xxx.jpg   data/my_dataset/ann_dir/train/xxx.png
#   data/my_dataset/img_dir/val/yyy.jpg     data/my_dataset/ann_dir/val/yyy.png
#
# Edit the block below; the model, pipelines and the label check follow.
# Train:  python tools/train.py configs/seg/lraspp_lcnetv2-base_custom.py
# Copy this file and edit the copy: its base is named by package (mmlcnetv2::),
# so a copy works anywhere.
_base_ = ['mmlcnetv2::seg/lraspp_lcnetv2-base_8xb4-160k_ade20k-512x512.py']

# ---- what a user edits -----------------------------------------------------
data_root = 'data/my_dataset'
classes = ('background', 'foreground')  # index i = mask value i
palette = [[0, 0, 0], [220, 20, 60]]  # RGB per class, for overlay pictures
img_suffix, seg_map_suffix = '.jpg', '.png'
# True if mask value 0 means "unlabelled": 0 becomes 255 (ignored) and the
# other values shift down by one (then `classes` lists classes 1..N only).
reduce_zero_label = False
crop_size = (512, 512)  # training crop (H, W)
img_scale = (2048, 512)  # (long, short) side bounds for resizing
# -----------------------------------------------------------------------------

num_classes = len(classes)
metainfo = dict(classes=classes, palette=palette)
model = dict(
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=num_classes))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    # Mask size == image size, labels in 0..num_classes-1 or 255; else a
    # clear error naming the file (mmseg itself does not check).
    dict(type='CheckSegMap', num_classes=num_classes),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    # Masks are loaded after Resize: metrics compare at the original size.
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


train_dataloader = dict(dataset=_dataset('train', train_pipeline))
val_dataloader = dict(dataset=_dataset('val', test_pipeline))
test_dataloader = val_dataloader

# 40k iterations instead of ADE20K's 160k; evaluate and save every 4k.
iters = 40000
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=iters, val_interval=iters // 10)
default_hooks = dict(
    checkpoint=dict(interval=iters // 10, max_keep_ckpts=2, save_best='mIoU'))
