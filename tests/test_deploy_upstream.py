"""Parity over upstream OpenMMLab configs: the IR against the OpenMMLab
inferencer (mmdet's ``DetInferencer``, mmpretrain's
``ImageClassificationInferencer``, mmseg's ``MMSegInferencer``) on real,
non-square photos; docs/deploy.md's supported-model table.

Each config inherits the one its library ships (``mmdet::...``), with
PP-LCNetV2 swapped in where a backbone fits and shrunk to seconds (small
test scale, thin FPN and head), or as shipped where it exports
(RTMDet-tiny and YOLOX-tiny with their ``Pad``, at a smaller size).
Random weights, with what is compared present by construction
(:func:`plant`): detections above the threshold, a peaked class score,
several classes in a mask. Every detection mmdet returns must be matched
one to one by the IR's (same class, IoU >= 0.99, |score difference| <=
1e-4); the top-5 classes equal, their scores within 1e-4 relative; >=
99.9 % of mask pixels equal.
"""
import os.path as osp

from typing import Dict, Tuple

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
# The test pipeline at 256x192 px, the upstream one otherwise.
RESIZE = """
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 192), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
         'img_shape', 'scale_factor'))]))
"""
# GroupNorm heads (FCOS, ATSS, GFL): 8 groups of the 32 channels, so that a
# 1x1 top level of a small image still has more than one value per group.
GN8 = """
model['bbox_head']['norm_cfg'] = dict(type='GN', num_groups=8,
                                     requires_grad=True)
"""
HEADER = """
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
"""

#: name -> (config text, the bias planted in the class branch).
DETECTORS = {
    'retinanet': ("_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'"
                  + SWAP + RESIZE, -2.0),
    'fcos': ("_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'"
             + SWAP + GN8 + RESIZE + """
model.update(data_preprocessor=dict(mean=[123.675, 116.28, 103.53],
             std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
""", -1.0),
    'atss': ("_base_ = 'mmdet::atss/atss_r50_fpn_1x_coco.py'" + SWAP + GN8
             + RESIZE, -1.0),
    'gfl': ("_base_ = 'mmdet::gfl/gfl_r50_fpn_1x_coco.py'" + SWAP + GN8
            + RESIZE, -1.0),
    # As shipped, Pad (to 640x640 with 114) included, at 256 px.
    'rtmdet-tiny': ('''
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='Pad', size=(256, 256), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
         'img_shape', 'scale_factor'))]))
''', -1.0),
    # As shipped, Pad (to a square with 114) included, at 256 px. Its
    # scores are planted (:data:`YOLOX_PLANT`): a bias alone saturates them.
    'yolox-tiny': ('''
_base_ = 'mmdet::yolox/yolox_tiny_8xb8-300e_coco.py'
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='Pad', pad_to_square=True,
         pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
         'img_shape', 'scale_factor'))]))
''', None),
}
#: YOLOX's final convolutions: (branch, output std, bias). Class score
#: about sigmoid(-2 + 2.4 * 0.5) for the best of 80, objectness mostly
#: below sigmoid(-5): a few dozen of ~1300 priors clear score_thr 0.01;
#: boxes exp(1 +- 0.3) strides wide.
YOLOX_PLANT = (('cls', 0.5, -2.0), ('obj', 1.0, -5.0),
               ('reg', 0.3, [0.0, 0.0, 1.0, 1.0]))

#: mmpretrain classifiers as shipped; MobileNetV3's pillow ResizeEdge
#: swapped for cv2, as the export's refusal of it says.
CV2_RESIZE = """
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='cv2'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs')]))
"""
CLASSIFIERS = {
    'resnet18': "_base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'",
    'mobilenet-v3-small': "_base_ = 'mmpretrain::mobilenet_v3/"
                          "mobilenet-v3-small_8xb128_in1k.py'" + CV2_RESIZE,
    'mobilenet-v3-large': "_base_ = 'mmpretrain::mobilenet_v3/"
                          "mobilenet-v3-large_8xb128_in1k.py'" + CV2_RESIZE,
}

#: mmseg segmentors at 512x256: Fast-SCNN as shipped, PSPNet with
#: PP-LCNetV2 in place of its dilated ResNet-18 (stride 32, thin head).
SEG_RESIZE = """
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 256), keep_ratio=True),
    dict(type='PackSegInputs')]))
"""
SEGMENTORS = {
    'fast-scnn': "_base_ = 'mmseg::fastscnn/"
                 "fast_scnn_8xb4-160k_cityscapes-512x1024.py'" + SEG_RESIZE,
    'pspnet': "_base_ = 'mmseg::pspnet/"
              "pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py'" + SEG_RESIZE
              + """
model = dict(
    pretrained=None,
    backbone=dict(_delete_=True, type='PPLCNetV2',
                  arch=dict(scale=0.25, depths=[1, 1, 1, 1]),
                  out_indices=(2, 3)),
    decode_head=dict(in_channels=256, in_index=1, channels=32),
    auxiliary_head=dict(in_channels=128, in_index=0, channels=16))
""",
}


def write_config(folder, name: str, text: str) -> str:
    path = osp.join(str(folder), f'{name}.py')
    with open(path, 'w') as f:
        f.write(HEADER + text)
    return path


def plant_bias(model: torch.nn.Module, bias: float) -> None:
    """Detections by construction: the final class convolutions of the
    head get ``bias`` (sigmoid(-1) = 0.27)."""
    head = model.bbox_head
    for name, module in head.named_modules():
        if not isinstance(module, torch.nn.Conv2d):
            continue
        if 'cls' in name and module.out_channels % head.cls_out_channels == 0:
            torch.nn.init.constant_(module.bias, bias)


def plant(model: torch.nn.Module, image: str,
          layers: Dict[torch.nn.Module, Tuple[float, object]],
          centre: bool = True) -> None:
    """Give final layers (``Conv2d`` or ``Linear``) of ``model`` outputs of
    a chosen spread about a chosen value on a real photo, so that random
    features decide them within ranges where scores, classes and boxes are
    present.

    Each layer's weights are scaled so that its output has standard
    deviation ``std`` on the photo: over the positions of each channel
    (``centre``: the bias then becomes ``bias - W @ mean input``, so the
    photo's mean feature contributes nothing), or over all outputs (a
    classifier's logits, bias ``bias``).

    Args:
        layers: layer -> (std, bias: a number or one per output channel).
    """
    import cv2
    seen = {}

    def record(layer, inputs, output):
        x = inputs[0]
        dims = [0] + list(range(2, x.dim()))
        spread = output - output.mean(dims, keepdim=True) if centre else (
            output - layer.bias.view([1, -1] + [1] * (x.dim() - 2)))
        seen[layer] = (x.mean(dims), float(spread.std()))

    img = cv2.resize(cv2.imread(image), (224, 160))
    data = model.data_preprocessor(dict(
        inputs=[torch.from_numpy(img).permute(2, 0, 1).contiguous()]),
        False)
    hooks = [layer.register_forward_hook(record) for layer in layers]
    with torch.no_grad():
        model(data['inputs'], mode='tensor')
        for hook in hooks:
            hook.remove()
        for layer, (std, bias) in layers.items():
            mean, spread = seen[layer]
            layer.weight.mul_(std / spread)
            bias = torch.as_tensor(bias, dtype=torch.float32)
            if centre:  # a 1x1 convolution: W @ mean, per channel
                bias = bias - layer.weight.flatten(1) @ mean
            layer.bias.copy_(bias)


def random_checkpoint(config: str, path: str, image: str, planted) -> None:
    """A checkpoint of ``config``'s model: random weights, random BN
    statistics, and ``planted(model, image)``'s construction."""
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    from mmlcnetv2.apis.build import build_model
    from mmlcnetv2.utils.batchnorm import randomize_bn
    torch.manual_seed(0)
    model = build_model(Config.fromfile(config), None)
    randomize_bn(model)
    model.eval()
    planted(model, image)
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), path)


def plant_detector(name: str):
    """The construction of :data:`DETECTORS`'s ``name``."""
    bias = DETECTORS[name][1]
    if bias is not None:
        return lambda model, image: plant_bias(model, bias)

    def yolox(model, image):
        head = model.bbox_head
        plant(model, image, {
            conv: (std, b) for kind, std, b in YOLOX_PLANT
            for conv in getattr(head, f'multi_level_conv_{kind}')})
    return yolox


def plant_classifier(model, image) -> None:
    """A peaked class score: logits spread with std 2 by the last Linear."""
    last = [m for m in model.head.modules()
            if isinstance(m, torch.nn.Linear)][-1]
    plant(model, image, {last: (2.0, 0.0)}, centre=False)


def plant_segmentor(model, image) -> None:
    """Several classes in a mask: class logits centred, spread by 1."""
    plant(model, image, {model.decode_head.conv_seg: (1.0, 0.0)})


def export_with_check(config: str, ckpt: str, out: str) -> dict:
    """``export``, and its conversion check a measured difference."""
    from mmlcnetv2.deploy import export
    meta = export(config, ckpt, out)
    check = meta['conversion_check']
    assert check['max_abs_diff'] is None or check['max_abs_diff'] < 1e-2, (
        check)
    return meta


def mmdet_results(config: str, checkpoint: str, images):
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model=config, weights=checkpoint,
                               device='cpu', show_progress=False)
    out = inferencer(list(images), return_datasamples=True)['predictions']
    return [dict(bboxes=s.pred_instances.bboxes.numpy(),
                 scores=s.pred_instances.scores.numpy(),
                 labels=s.pred_instances.labels.numpy()) for s in out]


def match_one_to_one(ref: dict, ir: dict) -> None:
    """Every reference detection has its own IR detection of the same class
    with IoU >= 0.99 and a score within 1e-4; the counts are equal."""
    from mmlcnetv2.deploy.tasks.det_matching import match_detections
    pairs, lone_ref, lone_ir = match_detections(ref, ir, iou_thr=0.99,
                                                score_tol=1e-4)
    assert not len(lone_ref) and not len(lone_ir), (
        f'{len(pairs)} matched; unmatched: mmdet {ref["scores"][lone_ref]}, '
        f'IR {ir["scores"][lone_ir]}')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    return photo_files(tmp_path_factory.mktemp('photos'))


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(DETECTORS))
def test_detector_ir_equals_mmdet(name, photos, tmp_path):
    """FCOS and ATSS (centerness), GFL (integral), RetinaNet, RTMDet-tiny
    and YOLOX-tiny (their Pad in the graph; YOLOX's objectness, no
    max_per_img) give mmdet's detections, one to one."""
    from mmlcnetv2.deploy import OpenVINOInferencer
    config = write_config(tmp_path, name, DETECTORS[name][0])
    ckpt = str(tmp_path / 'model.pth')
    random_checkpoint(config, ckpt, photos['china'], plant_detector(name))
    export_with_check(config, ckpt, str(tmp_path / 'ir'))
    images = [photos['china'], photos['flower_251x333']]
    refs = mmdet_results(config, ckpt, images)
    ir = OpenVINOInferencer(str(tmp_path / 'ir'), precision_hint='f32')
    for image, ref in zip(images, refs):
        assert len(ref['scores']) > 10, len(ref['scores'])
        match_one_to_one(ref, ir(image))


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(CLASSIFIERS))
def test_classifier_ir_equals_mmpretrain(name, photos, tmp_path):
    """The top-5 classes of mmpretrain's inferencer, their scores within
    1e-4 relative (the planted logits make them distinct)."""
    from mmpretrain.apis import ImageClassificationInferencer
    from mmlcnetv2.deploy import OpenVINOInferencer
    config = write_config(tmp_path, name, CLASSIFIERS[name])
    ckpt = str(tmp_path / 'model.pth')
    random_checkpoint(config, ckpt, photos['china'], plant_classifier)
    export_with_check(config, ckpt, str(tmp_path / 'ir'))
    images = [photos['china'], photos['flower_251x333']]
    refs = ImageClassificationInferencer(model=config, pretrained=ckpt,
                                         device='cpu')(images)
    ir = OpenVINOInferencer(str(tmp_path / 'ir'), precision_hint='f32')
    for image, ref in zip(images, refs):
        top = np.argsort(-ref['pred_scores'])[:5]
        assert ref['pred_scores'][top[0]] > 0.01  # planted: not uniform
        scores = ir(image)['scores']
        np.testing.assert_array_equal(np.argsort(-scores)[:5], top)
        np.testing.assert_allclose(scores[top], ref['pred_scores'][top],
                                   rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(SEGMENTORS))
def test_segmentor_ir_equals_mmseg(name, photos, tmp_path):
    """>= 99.9 % of mask pixels equal to mmseg's inferencer's, the masks
    showing at least 3 classes of >= 1 % of the pixels (planted)."""
    from mmseg.apis import MMSegInferencer
    from mmlcnetv2.deploy import OpenVINOInferencer
    config = write_config(tmp_path, name, SEGMENTORS[name])
    ckpt = str(tmp_path / 'model.pth')
    random_checkpoint(config, ckpt, photos['china'], plant_segmentor)
    export_with_check(config, ckpt, str(tmp_path / 'ir'))
    images = [photos['china'], photos['flower_251x333']]
    refs = MMSegInferencer(model=config, weights=ckpt, device='cpu')(
        images, return_datasamples=True)
    ir = OpenVINOInferencer(str(tmp_path / 'ir'), precision_hint='f32')
    for image, ref in zip(images, refs):
        ref = ref.pred_sem_seg.data[0].numpy()
        assert (np.bincount(ref.ravel()) >= 0.01 * ref.size).sum() >= 3
        seg = ir(image)['seg']
        assert seg.shape == ref.shape
        assert (seg == ref).mean() >= 0.999, (seg == ref).mean()


def test_pillow_resize_refused_with_what_to_change(tmp_path):
    """MobileNetV3 as shipped (ResizeEdge backend='pillow'): refused in
    one line that says what to change, nothing written."""
    from mmlcnetv2.deploy import export
    config = write_config(tmp_path, 'mbv3', CLASSIFIERS[
        'mobilenet-v3-small'].split('\n')[0])
    with pytest.raises(ValueError) as info:
        export(config, None, str(tmp_path / 'ir'))
    message = str(info.value)
    assert '\n' not in message
    assert "backend='cv2'" in message and 'pillow' in message, message
    assert not osp.exists(tmp_path / 'ir')


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
