"""Detection: configs build, loss/predict, short training, bad input.

Uses PPLCNetV2's tiny custom arch and small images so that everything runs
in seconds on a CPU; the configs' own architectures are built (not run).
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmlcnetv2  # noqa: F401
from mmlcnetv2.datasets.generate.shapes import CLASSES, make_shapes
from helpers import adamw_losses, descent_along_gradient  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DET = osp.join(ROOT, 'configs', 'det')
RETINA = osp.join(DET, 'retinanet_lcnetv2.py')
DEMO = osp.join(DET, 'retinanet_lcnetv2-small_shapes-demo.py')
CUSTOM = osp.join(DET, 'retinanet_lcnetv2_custom.py')
PICO_S = osp.join(DET, 'picodet-style_lcnetv2-small_320_coco.py')
PICO_B = osp.join(DET, 'picodet-style_lcnetv2-base_416_coco.py')
ALL_CONFIGS = [RETINA, DEMO, CUSTOM, PICO_S, PICO_B]
TINY_ARCH = dict(scale=0.25, depths=[1, 1, 1, 1])  # stages 1..3: 64/128/256
TINY_CHANNELS = [64, 128, 256]


def _build(model_cfg):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()  # and the mmdet default scope
    return MODELS.build(copy.deepcopy(model_cfg))


def tiny_model_cfg(config: str, num_classes: int = len(CLASSES)) -> dict:
    """The config's detector on the tiny backbone, random init."""
    cfg = Config.fromfile(config)
    model = cfg.model
    model.backbone.update(arch=TINY_ARCH, init_cfg=None, frozen_stages=-1,
                          norm_eval=False)
    model.neck.in_channels = TINY_CHANNELS
    model.bbox_head.num_classes = num_classes
    if model.data_preprocessor.get('batch_augments'):
        model.data_preprocessor.batch_augments = None
    return model


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('det') / 'shapes')
    make_shapes(root, num_train=8, num_val=4, img_size=128, max_objects=3,
                seed=1)
    return root


def shapes_batch(root: str, n: int = 4, split: str = 'train', size=128,
                 metainfo_classes=CLASSES):
    """A real batch from the generated data through mmdet's pipeline."""
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(
        data_root=root,
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'{split}/'),
        metainfo=dict(classes=metainfo_classes),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(size, size), keep_ratio=True),
            dict(type='PackDetInputs')
        ])
    items = [ds[i] for i in range(n)]
    return dict(inputs=[i['inputs'] for i in items],
                data_samples=[i['data_samples'] for i in items])


@pytest.mark.parametrize('config', ALL_CONFIGS, ids=osp.basename)
def test_configs_build_with_their_archs(config):
    """The real architecture of every config builds (no weights read)."""
    cfg = Config.fromfile(config)
    assert cfg.custom_imports['imports'] == ['mmlcnetv2']
    model = _build(cfg.model)
    backbone = model.backbone
    assert backbone.out_channels[1:] == list(cfg.model.neck.in_channels)
    feats = model.extract_feat(torch.rand(1, 3, 128, 128))
    head = cfg.model.bbox_head
    strides = head.anchor_generator.strides
    assert len(feats) == len(strides)
    for f, s in zip(feats, strides):
        assert f.shape[-1] == -(-128 // s)  # ceil: padded convs
        assert f.shape[1] == head.in_channels


def test_retinanet_uses_pretrained_backbone():
    cfg = Config.fromfile(RETINA)
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained' and init.prefix == 'backbone.'
    # PaddleClas's SSLD weights, fetched on first use (no manual step).
    assert init.checkpoint == (
        'https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/'
        'legendary_models/PPLCNetV2_base_ssld_pretrained.pdparams')
    assert cfg.model.backbone.arch == 'base'
    assert cfg.model.backbone.norm_cfg.type == 'BN'


@pytest.mark.parametrize('config', [DEMO, PICO_S], ids=osp.basename)
def test_loss_and_predict_on_shapes(config, shapes):
    torch.manual_seed(0)
    model = _build(tiny_model_cfg(config))
    model.init_weights()
    batch = shapes_batch(shapes)
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(batch, False), mode='predict')
    assert len(results) == 4
    for r in results:
        assert r.pred_instances.bboxes.shape[1] == 4
        assert len(r.pred_instances.scores) == len(r.pred_instances.labels)


# The PicoDet-style head's quality focal loss takes IoU targets of the
# predicted boxes, detached (as mmdet does): its gradient is not the loss's
# whole derivative, and the first order overstates the descent (a quarter of
# it measured; RetinaNet's 0.86).
@pytest.mark.parametrize('config,at_least', [(DEMO, 0.5), (PICO_S, 0.1)],
                         ids=['retinanet', 'picodet-style'])
def test_a_step_against_the_gradient_lowers_the_loss(config, at_least,
                                                     shapes):
    """The loss is differentiable end to end and its gradient points
    downhill: a short step against it lowers the loss by what the first
    order says (:func:`descent_along_gradient`); then a few AdamW steps, as
    the demo trains, stay finite. (How far those steps lower the loss is a
    training outcome: not asserted, printed.)"""
    torch.manual_seed(0)
    model = _build(tiny_model_cfg(config))
    model.init_weights()
    model.train()
    data = model.data_preprocessor(shapes_batch(shapes), True)

    def loss_of():
        return model.parse_losses(model(**data, mode='loss'))[0]

    eps, predicted, actual = descent_along_gradient(
        loss_of, list(model.parameters()), at_least)
    assert actual >= at_least * predicted, (eps, predicted, actual)
    history = adamw_losses(loss_of, model.parameters(), 5)
    print(f'step {eps:g}: loss -{actual:.3g} (first order {predicted:.3g});'
          f' AdamW: {history}')
    assert np.isfinite(history).all(), history


def test_picodet_predicts_boxes_in_image_coordinates(shapes):
    """rescale=True maps boxes from the resized input back to the original
    image: exactly the input-space boxes divided by the scale factor, inside
    the original image."""
    torch.manual_seed(0)
    model = _build(tiny_model_cfg(PICO_S))
    model.init_weights()
    model.bbox_head.test_cfg.score_thr = 0.0  # untrained: keep everything
    model.eval()
    batch = shapes_batch(shapes, n=2, size=96)  # 128 -> 96: scale 0.75
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        outs = model.bbox_head(feats)
        metas = [s.metainfo for s in data['data_samples']]
        in_input = model.bbox_head.predict_by_feat(
            *outs, batch_img_metas=metas, rescale=False)
        in_orig = model.bbox_head.predict_by_feat(
            *outs, batch_img_metas=metas, rescale=True)
    for a, b, meta in zip(in_input, in_orig, metas):
        assert len(a.bboxes) > 0
        sx, sy = meta['scale_factor']
        assert (sx, sy) == (0.75, 0.75)
        expected = a.bboxes / a.bboxes.new_tensor([sx, sy, sx, sy])
        torch.testing.assert_close(b.bboxes, expected)
        h, w = meta['ori_shape']
        assert b.bboxes[:, 0::2].min() >= 0 and b.bboxes[:, 0::2].max() <= w
        assert b.bboxes[:, 1::2].min() >= 0 and b.bboxes[:, 1::2].max() <= h
        assert b.bboxes[:, 2:].max() > 96  # not clipped to the input size


@pytest.mark.parametrize('config', [DEMO, PICO_S], ids=osp.basename)
def test_images_without_objects_and_boxes_outside(config, shapes):
    """No object: only a (finite) classification loss. Boxes partly or
    entirely outside the image: finite losses (mmdet clips them)."""
    from mmengine.structures import InstanceData
    torch.manual_seed(0)
    model = _build(tiny_model_cfg(config))
    model.init_weights()
    batch = shapes_batch(shapes, n=2)
    empty, outside = batch['data_samples']
    empty.gt_instances = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    outside.gt_instances = InstanceData(
        bboxes=torch.tensor([[-30., -20., 60., 50.], [100., 100., 400., 300.],
                             [500., 500., 600., 600.]]),
        labels=torch.tensor([0, 1, 2]))
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    for name, value in losses.items():
        values = value if isinstance(value, list) else [value]
        assert all(torch.isfinite(v).all() for v in values), name


def test_dataset_clips_boxes_outside_and_drops_unknown_classes(tmp_path):
    """mmdet's COCO loading on bad annotations: a box sticking out of the
    image is clipped by Resize; a category not in metainfo.classes is
    dropped (with its annotations), as mmdet does."""
    import json

    import cv2
    import numpy as np
    from mmdet.datasets import CocoDataset
    (tmp_path / 'img').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / 'a.jpg'),
                np.full((64, 80, 3), 127, np.uint8))
    coco = dict(
        images=[dict(id=1, file_name='a.jpg', width=80, height=64)],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[60, 40, 50, 50],
                 area=2500, iscrowd=0),
            dict(id=2, image_id=1, category_id=2, bbox=[5, 5, 10, 10],
                 area=100, iscrowd=0)
        ],
        categories=[dict(id=1, name='circle'), dict(id=2, name='unicorn')])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    ds = CocoDataset(
        data_root=str(tmp_path),
        ann_file='ann.json',
        data_prefix=dict(img='img/'),
        metainfo=dict(classes=('circle', )),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(80, 64), keep_ratio=True),
            dict(type='PackDetInputs')
        ])
    gt = ds[0]['data_samples'].gt_instances
    assert gt.labels.tolist() == [0]  # the unicorn is gone
    x1, y1, x2, y2 = gt.bboxes.tensor[0].tolist()
    assert (x1, y1, x2, y2) == (60, 40, 80, 64)  # clipped to the image


def test_missing_pretrained_checkpoint_is_named(tmp_path):
    """Building reads no weights; initialising names the missing file."""
    cfg = Config.fromfile(RETINA)
    missing = str(tmp_path / 'pplcnetv2-base_paddle-in1k.pth')
    cfg.model.backbone.init_cfg.checkpoint = missing
    backbone = _build(cfg.model.backbone)
    with pytest.raises(FileNotFoundError, match='pplcnetv2-base_paddle-in1k'):
        backbone.init_weights()
