"""OpenVINO export of a segmentor: per-pixel class map at the input size."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import build_model, load_config, register_scope
from mmlcnetv2.deploy import OpenVINOInferencer, export
from mmlcnetv2.utils.batchnorm import randomize_bn
from helpers import SEGMENTOR as CONFIG

ov = pytest.importorskip('openvino')


def _random_segmentor(root, config: str, **export_kwargs) -> dict:
    """A segmentor with random weights and non-trivial BN statistics, saved
    and exported (by default: dynamic, the segmentation default)."""
    cfg_path = root / 'seg.py'
    cfg_path.write_text(config)
    cfg = load_config(str(cfg_path))
    register_scope(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    randomize_bn(model, mean_std=0.3, var_range=(0.5, 2.0))
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.normal_(m.weight, std=0.3)
    ckpt = root / 'seg.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = root / 'ir'
    meta = export(str(cfg_path), str(ckpt), str(out), **export_kwargs)
    return dict(root=root, config=str(cfg_path), checkpoint=str(ckpt),
                model=model.eval(), dynamic=str(out), meta=meta)


@pytest.fixture(scope='module')
def seg(tmp_path_factory):
    # The float form: the tests feed it tensors.
    return _random_segmentor(tmp_path_factory.mktemp('seg'), CONFIG,
                             dynamic=True, input_form='float')


def _torch_map(model, x):
    from mmseg.structures import SegDataSample
    h, w = x.shape[2:]
    samples = [SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                           pad_shape=(h, w),
                                           padding_size=[0, 0, 0, 0]))
               for _ in range(len(x))]
    with torch.no_grad():
        out = model.predict(torch.from_numpy(x), samples)
    return np.stack([o.pred_sem_seg.data[0].numpy() for o in out])


@pytest.mark.parametrize('shape', [(64, 64), (96, 128), (72, 100)])
def test_class_map_parity_dynamic_batch2(seg, shape):
    x = np.random.default_rng(shape[1]).standard_normal(
        (2, 3, *shape)).astype(np.float32)
    inferencer = OpenVINOInferencer(seg['dynamic'], precision_hint='f32')
    logits = inferencer.infer_tensor(x)[0]
    assert logits.shape == (2, 4, *shape)  # seg_logits at the input size
    got = logits.argmax(1)
    ref = _torch_map(seg['model'], x)
    assert got.shape == ref.shape == (2, *shape)
    agree = (got == ref).mean()
    assert len(np.unique(ref)) > 1  # a map worth comparing
    print(f'{shape}: {agree:.6f} of pixels agree')
    assert agree >= 0.999


def test_inferencer_map_at_original_size(seg, tmp_path):
    meta = json.load(open(osp.join(seg['dynamic'], 'deploy.json')))
    assert meta['task'] == 'segmentation'
    assert meta['classes'] == ['bg', 'a', 'b', 'c']
    assert meta['preprocess']['pad_size_divisor'] == 0  # mmseg: no test pad
    img = cv2.resize(np.random.default_rng(1).integers(
        0, 256, (12, 20, 3), dtype=np.uint8), (200, 120))
    path = str(tmp_path / 'x.png')
    cv2.imwrite(path, img)
    inferencer = OpenVINOInferencer(seg['dynamic'], precision_hint='f32')
    result = inferencer(path)
    assert result['seg'].shape == (120, 200)
    # mmseg on the same pipeline output: logits resized to the original
    # size, then argmax; so does the inferencer.
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    cfg = load_config(seg['config'])
    data = Compose([t for t in cfg.test_pipeline
                    if t['type'] != 'LoadAnnotations'])(dict(img_path=path))
    with torch.no_grad():
        ref = seg['model'].test_step(dict(
            inputs=[data['inputs']], data_samples=[data['data_samples']]))[0]
    ref = ref.pred_sem_seg.data[0].numpy()
    assert (result['seg'] == ref).mean() >= 0.999


# ---- LR-ASPP end to end on real photos ---------------------------------------
# The shapes-demo LR-ASPP config (GlobalPoolLRASPPHead: its image pool is a
# global mean, which a static export's padding shifts) on a tiny backbone.
LRASPP_CONFIG = """
_base_ = '%s'
model = dict(
    backbone=dict(arch=dict(_delete_=True, scale=0.25, depths=[1, 1, 1, 1])),
    decode_head=dict(in_channels=(32, 64, 256), channels=16))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')]
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
""" % osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
               'seg', 'lraspp_lcnetv2-small_shapes-demo.py')
# The --static form on a photo whose padded shape is not the export's: at
# least this fraction of pixels equal to mmseg (measured: see docs/deploy.md).
STATIC_MIN_AGREE = 0.70
# --input image vs the default export, share of equal pixels of the class
# map on the photos: 0.9972-0.9992 measured (random weights, the same on
# every CPU class; Intel Xeon, AMX).
IMAGE_MIN_AGREE = 0.99


@pytest.fixture(scope='module')
def lraspp(tmp_path_factory):
    """LR-ASPP with random weights, exported with the default (dynamic)."""
    seg = _random_segmentor(tmp_path_factory.mktemp('lraspp'), LRASPP_CONFIG)
    assert seg['meta']['input']['dynamic']  # the segmentation default
    assert seg['meta']['input']['dtype'] == 'uint8'
    return seg


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    from photos import photo_files
    return photo_files(tmp_path_factory.mktemp('photos'))


def _mmseg_maps(seg, paths):
    """mmseg's ``MMSegInferencer`` on image files: class maps at the
    original size (logits resized bilinearly, then argmax)."""
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=seg['config'],
                                 weights=seg['checkpoint'], device='cpu')
    return [inferencer(p, return_datasamples=True).pred_sem_seg.data[0]
            .numpy() for p in paths]


def test_lraspp_default_export_matches_mmseg_inferencer(lraspp, photos,
                                                        tmp_path):
    """The default export (uint8 image in) equals mmseg's inferencer and the
    float-input export of the same checkpoint on odd-size photos."""
    names = sorted(photos)
    refs = _mmseg_maps(lraspp, [photos[n] for n in names])
    inferencer = OpenVINOInferencer(lraspp['dynamic'], precision_hint='f32')
    out = tmp_path / 'float'
    export(lraspp['config'], lraspp['checkpoint'], str(out),
           input_form='float')
    floats = OpenVINOInferencer(str(out), precision_hint='f32')
    for name, ref in zip(names, refs):
        got = inferencer(photos[name])['seg']
        other = floats(photos[name])['seg']
        same = (got == other).mean()
        print(f'LR-ASPP uint8 vs float {name}: {same:.6f} of pixels agree')
        assert same >= 0.9999
        assert got.shape == ref.shape
        assert len(np.unique(ref)) > 1  # a map worth comparing
        agree = (got == ref).mean()
        print(f'LR-ASPP dynamic {name} {ref.shape}: {agree:.6f} of pixels '
              'agree')
        assert agree >= 0.9999


def test_lraspp_static_export_exact_or_bounded(lraspp, photos, tmp_path):
    """``--static``: a square photo (padded shape = the export's) as mmseg;
    the others within the measured, documented bound."""
    out = tmp_path / 'static'
    meta = export(lraspp['config'], lraspp['checkpoint'], str(out),
                  dynamic=False)
    # float: a static segmentor's default (exact padding on the host)
    assert meta['input']['shape'] == [1, 3, 96, 96]
    assert 'padded to 96x96' in meta['input']['static_trade']
    names = sorted(photos)
    refs = _mmseg_maps(lraspp, [photos[n] for n in names])
    inferencer = OpenVINOInferencer(str(out), precision_hint='f32')
    for name, ref in zip(names, refs):
        agree = (inferencer(photos[name])['seg'] == ref).mean()
        print(f'LR-ASPP static {name} {ref.shape}: {agree:.6f} of pixels '
              'agree')
        assert agree >= (0.9999 if name == 'flower_square' else
                         STATIC_MIN_AGREE), name


def test_lraspp_image_input_agrees_with_the_default_export(lraspp, photos,
                                                           tmp_path):
    """``--input image``: the IR resizes the decoded image itself (within a
    grey level of cv2, tests/test_deploy_det.py); on the odd-size photos
    its class map at the original size agrees with the default export's on
    nearly every pixel. The weights are random, so the same on every CPU
    class (torch's seeded generator); the shapes_seg demo's trained
    iter_400.pth agreed on 99.25 % of china.jpg."""
    out = tmp_path / 'image'
    meta = export(lraspp['config'], lraspp['checkpoint'], str(out),
                  input_form='image')
    assert 'resize' in meta['input']['preprocess_in_graph']
    image = OpenVINOInferencer(str(out), precision_hint='f32')
    assert [i.get_any_name() for i in image.compiled.inputs] == [
        'input', 'img_shape']
    default = OpenVINOInferencer(lraspp['dynamic'], precision_hint='f32')
    for name in sorted(photos):
        a, b = default(photos[name])['seg'], image(photos[name])['seg']
        assert a.shape == b.shape == cv2.imread(photos[name]).shape[:2]
        agree = float((a == b).mean())
        print(f'--input image vs default, {name}: {agree:.4f} of pixels')
        assert agree >= IMAGE_MIN_AGREE, (name, agree)


def test_image_input_int8_calibrates_with_the_added_img_shape(tmp_path):
    """``--input image --precision int8`` on a segmentor: calibration feeds
    the ``img_shape`` input the graph's resize added (it failed with
    "get_input_tensor() must be called on a function with exactly one
    parameter"), and the quantized IR runs on an odd-size image."""
    from mmlcnetv2.datasets.generate.shapes_seg import make_shapes_seg
    root = str(tmp_path / 'shapes_seg')
    make_shapes_seg(root, num_train=6, num_val=2)
    config = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                      'configs', 'seg', 'lraspp_lcnetv2-small_shapes-demo.py')
    out = tmp_path / 'int8'
    meta = export(config, None, str(out), input_form='image',
                  precision='int8', calib=4,
                  cfg_options={'train_dataloader.dataset.data_root': root})
    assert meta['precision'] == 'int8' and meta['calibration']['images'] == 4
    ops = {op.get_type_name() for op in ov.Core().read_model(
        str(out / 'model.xml')).get_ordered_ops()}
    assert 'FakeQuantize' in ops and 'Interpolate' in ops
    img = np.random.default_rng(0).integers(0, 256, (77, 131, 3), np.uint8)
    seg = OpenVINOInferencer(str(out), precision_hint='f32')(img)['seg']
    assert seg.shape == (77, 131)
