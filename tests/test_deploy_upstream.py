"""Parity over upstream OpenMMLab configs: the IR against the OpenMMLab
inferencer (mmdet's ``DetInferencer``) on real, non-square photos.

Each config inherits the one mmdet ships (``mmdet::...``), with PP-LCNetV2
swapped in where a backbone fits and shrunk to seconds (small test scale,
thin FPN and head), or as shipped where it exports (RTMDet-tiny: its
``Pad`` to a fixed size included, at a smaller size). Random weights;
boxes are present by construction: the classification branch's final bias
is planted so that sigmoid scores clear the threshold, and every detection
mmdet returns must be matched one to one by the IR's (same class, IoU >=
0.99, |score difference| <= 1e-4).
"""
import os.path as osp

import numpy as np
import pytest
import torch

from helpers import one_thread  # noqa: F401  (fixture)
from photos import photo_files

#: Our backbone and a thin FPN, in place of a ResNet-50 one.
SWAP = """
model = dict(
    backbone=dict(_delete_=True, type='PPLCNetV2',
                  arch=dict(scale=0.25, depths=[1, 1, 1, 1]),
                  out_indices=(1, 2, 3)),
    neck=dict(in_channels=[64, 128, 256], out_channels=32),
    bbox_head=dict(in_channels=32, feat_channels=32, stacked_convs=1))
"""
# The test pipeline at 256 px, the upstream one otherwise.
RESIZE = """
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 256), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
         'img_shape', 'scale_factor'))]))
"""
HEADER = """
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
"""

#: name -> (config text, the bias planted in the class branch).
DETECTORS = {
    'retinanet': ("_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'"
                  + SWAP + RESIZE, -2.0),
    'fcos': ("_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'"
             + SWAP + RESIZE + """
model.update(data_preprocessor=dict(mean=[123.675, 116.28, 103.53],
             std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
""", -1.0),
    'atss': ("_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'" + SWAP + RESIZE,
             -1.0),
    'gfl': ("_base_ = 'mmdet::gfl/gfl_r50_fpn_1x_coco.py'" + SWAP + RESIZE,
            -1.0),
    # As shipped, Pad (to 640x640 with 114) included, at 320 px.
    'rtmdet-tiny': ('''
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 320), keep_ratio=True),
    dict(type='Pad', size=(320, 320), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
         'img_shape', 'scale_factor'))]))
''', -1.0),
}


def write_config(folder, name: str, text: str) -> str:
    path = osp.join(str(folder), f'{name}.py')
    with open(path, 'w') as f:
        f.write(HEADER + text)
    return path


def plant(model: torch.nn.Module, bias: float) -> None:
    """Random weights with detections by construction: the final class
    convolutions of the head get ``bias`` (sigmoid(-1) = 0.27)."""
    head = model.bbox_head
    for name, module in head.named_modules():
        if not isinstance(module, torch.nn.Conv2d):
            continue
        if 'cls' in name and module.out_channels % head.cls_out_channels == 0:
            torch.nn.init.constant_(module.bias, bias)


def make_checkpoint(config: str, bias: float, path: str) -> None:
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    from mmlcnetv2.apis.build import build_model
    from mmlcnetv2.utils.batchnorm import randomize_bn
    torch.manual_seed(0)
    model = build_model(Config.fromfile(config), None)
    randomize_bn(model)
    plant(model, bias)
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), path)


def mmdet_results(config: str, checkpoint: str, images):
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model=config, weights=checkpoint,
                               device='cpu', show_progress=False)
    out = inferencer(list(images), return_datasamples=True)['predictions']
    return [dict(bboxes=s.pred_instances.bboxes.numpy(),
                 scores=s.pred_instances.scores.numpy(),
                 labels=s.pred_instances.labels.numpy()) for s in out]


def match_one_to_one(ref: dict, ir: dict, iou_thr: float = 0.99,
                     score_tol: float = 1e-4) -> int:
    """Every reference detection has its own IR detection of the same class
    with IoU >= ``iou_thr`` and a score within ``score_tol``; the counts are
    equal. Returns the number matched."""
    from torchvision.ops import box_iou
    assert len(ref['scores']) == len(ir['scores']), (
        len(ref['scores']), len(ir['scores']))
    iou = box_iou(torch.from_numpy(ref['bboxes']).float(),
                  torch.from_numpy(ir['bboxes']).float()).numpy()
    iou[ref['labels'][:, None] != ir['labels'][None, :]] = 0
    used = set()
    for i in np.argsort(-ref['scores']):
        for j in np.argsort(-iou[i]):
            if j in used or iou[i, j] < iou_thr:
                break
            if abs(ref['scores'][i] - ir['scores'][j]) <= score_tol:
                used.add(j)
                break
    matched = len(used)
    assert matched == len(ref['scores']), (
        f'{matched}/{len(ref["scores"])} matched')
    return matched


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    return photo_files(tmp_path_factory.mktemp('photos'))


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(DETECTORS))
def test_detector_ir_equals_mmdet(name, photos, tmp_path, capsys):
    """FCOS and ATSS (centerness), GFL (integral), RetinaNet and
    RTMDet-tiny (its Pad to a fixed size in the graph) give mmdet's
    detections, one to one."""
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    text, bias = DETECTORS[name]
    config = write_config(tmp_path, name, text)
    ckpt = str(tmp_path / 'model.pth')
    make_checkpoint(config, bias, ckpt)
    out = str(tmp_path / 'ir')
    meta = export(config, ckpt, out)
    # The conversion check: a measured difference, not the tracer's noise.
    check = meta['conversion_check']
    assert check['max_abs_diff'] < 1e-2, check
    assert 'not close' not in capsys.readouterr().err
    images = [photos['china'], photos['flower_251x333']]
    refs = mmdet_results(config, ckpt, images)
    ir = OpenVINOInferencer(out, precision_hint='f32')
    for image, ref in zip(images, refs):
        assert len(ref['scores']) > 10, len(ref['scores'])
        match_one_to_one(ref, ir(image))


def test_two_stage_refused_in_one_line(tmp_path):
    """Faster R-CNN: refused before tracing, one line naming the class and
    what exports (exit status 2 in tools/deploy.py: a UserInputError)."""
    from mmlcnetv2.deploy import export
    from mmlcnetv2.errors import UserInputError
    config = write_config(tmp_path, 'faster', """
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
model = dict(backbone=dict(init_cfg=None))
""")
    with pytest.raises(UserInputError) as info:
        export(config, None, str(tmp_path / 'ir'))
    message = str(info.value)
    assert '\n' not in message
    assert message.startswith('FasterRCNN (a two-stage detector) does not '
                              'export; exports: single-stage'), message
    assert not osp.exists(tmp_path / 'ir')
