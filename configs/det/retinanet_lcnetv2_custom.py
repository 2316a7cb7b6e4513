# RetinaNet + PP-LCNetV2-base on YOUR data: COCO-format annotations + images.
# Edit `classes` (and the paths); nothing else is needed.
#
#   data/custom/annotations/train.json   data/custom/images/train/*.jpg
#   data/custom/annotations/val.json     data/custom/images/val/*.jpg
#
# `classes` are matched BY NAME to the json's "categories": annotations of
# categories not listed here are ignored (mmdet's CocoDataset behaviour), so
# a typo silently drops a class — check the "loaded N images" count and the
# class names in the training log.
#
#   python tools/train.py configs/det/retinanet_lcnetv2_custom.py
#   python tools/test.py configs/det/retinanet_lcnetv2_custom.py CKPT
#   # inference (import mmlcnetv2 first: it resolves the mmlcnetv2:: base):
#   import mmlcnetv2
#   from mmdet.apis import DetInferencer
#   DetInferencer(model='configs/det/retinanet_lcnetv2_custom.py',
#                 weights=CKPT)('image.jpg', out_dir='outputs/')
# Copy this file and edit the copy: its base is named by package (mmlcnetv2::),
# so a copy works anywhere.
_base_ = 'mmlcnetv2::det/retinanet_lcnetv2.py'

classes = ('cat', 'dog')  # EDIT: your category names
data_root = 'data/custom/'
train_ann = 'annotations/train.json'
train_img = 'images/train/'
val_ann = 'annotations/val.json'
val_img = 'images/val/'
metainfo = dict(classes=classes)

model = dict(bbox_head=dict(num_classes=len(classes)))

train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file=train_ann,
        data_prefix=dict(img=train_img)))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file=val_ann,
        data_prefix=dict(img=val_img)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + val_ann)
test_evaluator = val_evaluator
