"""OpenVINO export of a detector with decoding + NMS in the graph.

mmdet's RetinaNet head (and the PicoDet-style head) on a tiny PP-LCNetV2,
trained in the session until it is confident (real scores, not the 0.01
prior) on exactly the inputs these tests use (tests/verified_detector.py),
then exported and compared with torch detection by detection.
"""
import copy
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from mmlcnetv2.deploy import OpenVINOInferencer, export
from mmlcnetv2.apis import register_scope
from helpers import RETINANET, one_thread  # noqa: F401  (fixture)
from verified_detector import (SIZE, TRAIN_SEED, Case, Verified, file_input,
                               normalized, predict, pair_image,
                               train_until_verified, write_coco, write_inputs)

ov = pytest.importorskip('openvino')
pytestmark = pytest.mark.slow  # a short training run (~1-2 min on 2 cores)

MAX_PER_IMG = 20
CONFIG = RETINANET % (MAX_PER_IMG, SIZE, SIZE)
# int8 --nms host against the f32 --nms host export, with a score margin:
# of the f32 detections >= INT8_SURE, the share that has a same-label int8
# detection >= INT8_KEPT with IoU >= 0.5, and the same the other way.
# Printed, not asserted: how far int8 moves a detector trained in the
# session is a property of its weights (issue 19: 1.0 on an AMD EPYC with
# AVX2, 0.79 on an Intel Xeon with AMX, and no int8 detection at all of a
# detector trained on a Zen 4 EPYC whose f32 scores sat at 0.5-0.9). INT8
# accuracy is measured on the demo checkpoints (docs/deploy.md, "INT8") and
# bounded by construction with --max-drop
# (tests/test_deploy_int8_accuracy_control.py).
INT8_SURE, INT8_KEPT = 0.5, 0.2
# The batch shapes of test_detection_parity_dynamic_batch2 (fed unresized).
BATCH_SHAPES = [(96, 96), (128, 160), (100, 120)]
# Photos whose padded shape is not a square static export's (64x96, 58x96):
# the static IR sees them padded to 96x96.
STATIC_PADDED = ['china', 'china_300x500']
CLIP_IMG_SHAPE, CLIP_INPUT = (58, 96), (64, 96)


def _clip_input() -> np.ndarray:
    """A square and a circle cut by the bottom edge of a 58x96 image in a
    64x96 input: their boxes reach into the padding unless clipped."""
    rng = np.random.default_rng(5)
    img = (40 + rng.integers(0, 30, (58, 96, 3))).astype(np.uint8)
    cv2.rectangle(img, (10, 30), (40, 70), (80, 80, 255), -1)
    cv2.circle(img, (70, 50), 16, (80, 255, 80), -1)
    x = np.zeros((1, 3, *CLIP_INPUT), np.float32)
    x[:, :, :58] = normalized([img])
    return x


def _clip_reaches_padding(model) -> bool:
    """Clipped to the padded input instead of img_shape, a box >= 0.3 would
    reach below the image: the precondition of the clipping test."""
    dets = predict(model, _clip_input(), [CLIP_INPUT])[0]
    return bool((dets.bboxes[dets.scores >= 0.3, 3] > 58).any())


def _verified_inputs(root, pipeline) -> Verified:
    """Every input the tests below give torch, in the form they give it."""
    files = write_inputs(root)
    cases = {}
    for h, w in BATCH_SHAPES:
        rng = np.random.default_rng(h + w)
        cases[f'batch_{h}x{w}'] = Case(
            normalized([pair_image(rng, h, w) for _ in range(2)]),
            [(h, w)] * 2)
    cases['clip'] = Case(_clip_input(), [CLIP_IMG_SHAPE],
                         extra=_clip_reaches_padding)
    for name in STATIC_PADDED:
        x, img_shape = file_input(pipeline, files[name], pad_to=(SIZE, SIZE))
        cases[f'static_{name}'] = Case(x, [img_shape])
    # A padded batch of two: a 96x96 image and an 80x90 one below it.
    rng = np.random.default_rng(3)
    x = normalized([pair_image(rng)] * 2)
    x[1] = 0
    x[1, :, :80, :90] = normalized([pair_image(rng, 80, 90)])[0]
    cases['host_batch'] = Case(x, [(SIZE, SIZE), (80, 90)])
    return Verified(files, cases)


def _train_until_confident(cfg_text: str, root) -> dict:
    """Train until confident on the verified inputs; save, export (dynamic
    float input, and the default) and return the pieces."""
    from mmengine.dataset import Compose

    from mmlcnetv2.apis import build_model, load_config
    cfg_path = root / 'det.py'
    cfg_path.write_text(cfg_text)
    cfg = load_config(str(cfg_path))
    register_scope(cfg)
    torch.manual_seed(TRAIN_SEED)
    model = build_model(cfg)
    model.init_weights()
    pipeline = Compose(cfg.test_pipeline)
    (root / 'inputs').mkdir()
    verified = _verified_inputs(root / 'inputs', pipeline)
    train_until_verified(model, verified, pipeline)
    ckpt = root / 'det.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    # 'dynamic': the float form (the tests feed it tensors); 'default': the
    # default export (dynamic, uint8 image input, preprocessing inside).
    dynamic, default = root / 'ir_dynamic', root / 'ir_default'
    export(str(cfg_path), str(ckpt), str(dynamic), dynamic=True,
           input_form='float')
    export(str(cfg_path), str(ckpt), str(default))
    return dict(root=root, config=str(cfg_path), checkpoint=str(ckpt),
                model=model.eval(), dynamic=str(dynamic),
                default=str(default), files=verified.files,
                cases=verified.cases, pipeline=pipeline)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """RetinaNet (anchors, DeltaXYWH decoding) trained until confident."""
    return _train_until_confident(CONFIG, tmp_path_factory.mktemp('det'))


# The PicoDet-style config (LCPAN + PicoHead: points, DFL distances) on the
# tiny backbone: same export path, other decoding.
PICO_CONFIG = """
_base_ = '%s'
model = dict(
    data_preprocessor=dict(batch_augments=None),
    backbone=dict(arch=dict(_delete_=True, scale=0.25, depths=[1, 1, 1, 1]),
                  init_cfg=None),
    neck=dict(in_channels=[64, 128, 256], out_channels=32),
    bbox_head=dict(num_classes=2, in_channels=32, feat_channels=32),
    test_cfg=dict(score_thr=0.05, max_per_img=%d))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(%d, %d), keep_ratio=True),
    dict(type='PackDetInputs')]
test_dataloader = dict(dataset=dict(
    metainfo=dict(classes=('square', 'circle')), pipeline=test_pipeline))
""" % (osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
                'det', 'picodet-style_lcnetv2-small_320_coco.py'),
       MAX_PER_IMG, SIZE, SIZE)


@pytest.fixture(scope='module')
def trained_pico(tmp_path_factory):
    """The PicoDet-style detector trained until confident."""
    return _train_until_confident(PICO_CONFIG,
                                  tmp_path_factory.mktemp('pico'))


def _torch_dets(model, x):
    """mmdet's own predict on a normalized batch (img_shape = input)."""
    return predict(model, x)


def _match(ref, boxes, scores, labels):
    """Every torch det >= 0.3 matched (IoU >= 0.99, |ds| <= 1e-3, same
    label); no IR det >= 0.31 unmatched. Returns (n_ref, worst IoU,
    worst score diff)."""
    from torchvision.ops import box_iou
    keep = labels >= 0
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    r_keep = ref.scores >= 0.3
    r_boxes, r_scores = ref.bboxes[r_keep], ref.scores[r_keep].numpy()
    r_labels = ref.labels[r_keep].numpy()
    iou = box_iou(r_boxes, torch.from_numpy(boxes)).numpy() if len(
        boxes) else np.zeros((len(r_scores), 0))
    ok = (iou >= 0.99) & (np.abs(r_scores[:, None] - scores[None]) <= 1e-3) \
        & (r_labels[:, None] == labels[None])
    assert ok.any(1).all(), (r_scores, r_boxes, scores, boxes)
    matched_ir = ok.any(0)
    assert not ((scores >= 0.31) & ~matched_ir).any(), (scores, boxes)
    worst_iou = min((iou[i][ok[i]].max() for i in range(len(ok))),
                    default=1.0)
    worst_ds = max((np.abs(r_scores[i] - scores[ok[i]]).min()
                    for i in range(len(ok))), default=0.0)
    return len(r_scores), worst_iou, worst_ds


@pytest.mark.parametrize('shape', BATCH_SHAPES)
@pytest.mark.parametrize('detector', ['trained', 'trained_pico'],
                         ids=['retinanet', 'picodet-style'])
def test_detection_parity_dynamic_batch2(detector, shape, request):
    """The dynamic IR on a batch of two at three input sizes (fed as they
    are, img_shape = input) equals torch detection for detection; each
    image holds a verified detection >= VERIFIED_SCORE."""
    trained = request.getfixturevalue(detector)
    x = trained['cases']['batch_%dx%d' % shape].x
    inferencer = OpenVINOInferencer(trained['dynamic'], precision_hint='f32')
    dets, labels = inferencer.infer_tensor(x)
    assert dets.shape == (2, MAX_PER_IMG, 5)
    assert labels.shape == (2, MAX_PER_IMG)
    refs = _torch_dets(trained['model'], x)
    for b in range(2):
        count, iou, ds = _match(refs[b], dets[b, :, :4], dets[b, :, 4],
                                labels[b])
        assert count >= 1  # verified: a detection >= VERIFIED_SCORE
        # padding convention: after the kept rows, score 0 and label -1
        kept = labels[b] >= 0
        assert (dets[b][~kept] == 0).all()
        assert kept.sum() == min(len(refs[b].scores), MAX_PER_IMG)
        assert (np.diff(dets[b, kept, 4]) <= 0).all()
        print(f'{shape} image {b}: {count} torch dets >= 0.3, worst IoU '
              f'{iou:.5f}, worst |score diff| {ds:.2e}')


def _silenced(trained, path: str) -> torch.nn.Module:
    """A copy of the trained detector with its classification convs
    planted (weights 0, bias -30: every score is sigmoid(-30) ~ 1e-13 on
    any input, below any threshold, whatever training gave the rest),
    saved as a checkpoint at ``path``."""
    model = copy.deepcopy(trained['model'])
    head = model.bbox_head
    convs = [m for name in ('retina_cls', 'cls_preds')
             for m in (getattr(head, name).modules()
                       if hasattr(head, name) else ())
             if isinstance(m, torch.nn.Conv2d)]
    assert convs, f'no classification conv in {type(head).__name__}'
    with torch.no_grad():
        for conv in convs:
            conv.weight.zero_()
            conv.bias.fill_(-30.0)
    torch.save(dict(state_dict=model.state_dict()), path)
    return model


@pytest.mark.parametrize('detector', ['trained', 'trained_pico'],
                         ids=['retinanet', 'picodet-style'])
def test_empty_image_gives_padding_only(detector, request, tmp_path):
    """Nothing above the score threshold: only padding rows, no bogus one.

    The precondition is planted, not hoped for: what a detector trained in
    this session scores on a flat image depends on the CPU class (the
    weights differ), so the classification convs of its checkpoint are set
    to score ~1e-13 everywhere (:func:`_silenced`); torch gives
    no detection, and the IR must agree, on a flat batch and on a small
    image resized and padded by the inferencer."""
    trained = request.getfixturevalue(detector)
    ckpt = str(tmp_path / 'silent.pth')
    model = _silenced(trained, ckpt).eval()
    x = normalized([np.full((96, 96, 3), 40, np.uint8)] * 2)
    assert all(len(r.scores) == 0 for r in _torch_dets(model, x))
    model_dir = str(tmp_path / 'silent')
    export(trained['config'], ckpt, model_dir, dynamic=True,
           input_form='float')
    inferencer = OpenVINOInferencer(model_dir, precision_hint='f32')
    dets, labels = inferencer.infer_tensor(x)
    assert dets.shape == (2, MAX_PER_IMG, 5)
    assert (labels == -1).all() and (dets == 0).all()
    small = np.full((50, 70, 3), 40, np.uint8)
    result = inferencer(small)
    assert result['bboxes'].shape == (0, 4) and len(result['labels']) == 0
    # A verified photo, silenced: padding only too.
    photo = next(iter(trained['files'].values()))
    assert len(inferencer(photo)['scores']) == 0


def test_inferencer_boxes_in_original_coordinates(trained, tmp_path):
    """A static export; an image at twice the size gives the boxes of the
    half-size image, doubled (keep-ratio resize, then rescale)."""
    out = tmp_path / 'static'
    meta = export(trained['config'], trained['checkpoint'], str(out),
                  dynamic=False, input_form='float')
    assert meta['input']['shape'] == [1, 3, SIZE, SIZE]
    assert meta['score_threshold'] == 0.05
    assert meta['classes'] == ['square', 'circle']
    inferencer = OpenVINOInferencer(str(out), precision_hint='f32')
    path = trained['files']['big']  # verified, as is 'half'
    result = inferencer(path)
    small = inferencer(trained['files']['half'])
    assert len(result['scores']) > 0
    conf = result['scores'] >= 0.5
    assert conf.any()
    # the resize is not exactly inverse: compare loosely, then with torch
    assert np.abs(result['bboxes'][conf] / 2 -
                  small['bboxes'][small['scores'] >= 0.5][:conf.sum()]
                  ).max() < 4
    # torch on the same preprocessed input, rescaled like mmdet
    info = inferencer.preprocess(path)
    ref = _torch_dets(trained['model'], info['input'])[0]
    r = ref.scores >= 0.5
    np.testing.assert_allclose(
        result['bboxes'][conf],
        ref.bboxes[r].numpy().clip(0, SIZE) / 0.5, atol=0.02)


def test_onnx_export_runs_in_onnxruntime(trained, tmp_path):
    import onnxruntime as ort
    out = tmp_path / 'onnx'
    meta = export(trained['config'], trained['checkpoint'], str(out),
                  onnx=True)
    assert meta['onnx_max_abs_diff'] < 1e-3
    sess = ort.InferenceSession(str(out / 'model.onnx'),
                                providers=['CPUExecutionProvider'])
    x = trained['cases']['batch_96x96'].x[:1]  # verified
    dets, labels = sess.run(None, {
        'input': x, 'img_shape': np.array([[SIZE, SIZE]], np.float32)})
    count, _, _ = _match(_torch_dets(trained['model'], x)[0], dets[0, :, :4],
                         dets[0, :, 4], labels[0])
    assert count >= 1


# ---- end to end on real photos: image file in, original coordinates out ----
def _photos(trained) -> dict:
    """sklearn's photos and their odd-size crops (tests/photos.py), with
    shapes drawn on them: verified inputs of the trained detector."""
    from photos import CROPS
    return {name: trained['files'][name] for name in CROPS}


def _static_dir(trained) -> str:
    """A static (``--static``) export of the trained detector, made once."""
    if 'static' not in trained:
        out = trained['root'] / 'ir_static'
        meta = export(trained['config'], trained['checkpoint'], str(out),
                      dynamic=False)
        # float: a static detector's default (exact padding on the host)
        assert meta['input']['shape'] == [1, 3, SIZE, SIZE]
        assert 'padded to 96x96' in meta['input']['static_trade']
        trained['static'] = str(out)
    return trained['static']


def _mmdet_on_files(trained, paths):
    """mmdet's ``DetInferencer`` (the unfused torch model, the config's test
    pipeline, results rescaled to the original image) on image files."""
    from mmdet.apis import DetInferencer

    from mmlcnetv2.apis import load_config
    if 'det_inferencer' not in trained:
        cfg = load_config(trained['config'])
        # DetInferencer needs a visualizer in the config (draws nothing here)
        cfg.setdefault('visualizer', dict(type='DetLocalVisualizer'))
        trained['det_inferencer'] = DetInferencer(
            model=cfg, weights=trained['checkpoint'], device='cpu',
            show_progress=False)
    inferencer = trained['det_inferencer']
    return [inferencer(p, return_datasamples=True)['predictions'][0]
            .pred_instances for p in paths]


def _agreement(ref, result, thr=0.3):
    """(torch dets >= thr, IR dets >= thr, worst best-IoU of a torch det
    with a same-label IR det, worst |score diff| of those pairs)."""
    from torchvision.ops import box_iou
    r = ref.scores >= thr
    r_boxes, r_scores = ref.bboxes[r], ref.scores[r].numpy()
    r_labels = ref.labels[r].numpy()
    boxes = torch.from_numpy(result['bboxes'])
    iou = box_iou(r_boxes, boxes).numpy() if len(boxes) else np.zeros(
        (len(r_scores), 0))
    iou = iou * (r_labels[:, None] == result['labels'][None])
    best = iou.argmax(1) if iou.shape[1] else np.zeros(len(r_scores), int)
    worst_iou = float(iou.max(1).min()) if iou.size else (
        1.0 if not len(r_scores) else 0.0)
    worst_ds = float(np.abs(r_scores - result['scores'][best]).max()) \
        if iou.size else 0.0
    return (len(r_scores), int((result['scores'] >= thr).sum()), worst_iou,
            worst_ds)


@pytest.mark.parametrize('detector', ['trained', 'trained_pico'],
                         ids=['retinanet', 'picodet-style'])
def test_default_export_matches_det_inferencer_on_photos(detector, request):
    """The default export (dynamic, uint8 image in, normalization and
    padding in the IR) through ``OpenVINOInferencer`` equals mmdet's
    ``DetInferencer`` detection for detection on image files whose resized
    size is not a multiple of 32, and the float-input export's."""
    trained = request.getfixturevalue(detector)
    photos = _photos(trained)
    meta = json.load(open(osp.join(trained['default'], 'deploy.json')))
    assert meta['input']['dynamic'] and 'static_trade' not in meta['input']
    assert meta['input']['dtype'] == 'uint8'
    assert meta['input']['preprocess_in_graph'] == [
        'to_float', 'color_order', 'normalize', 'pad', 'layout']
    inferencer = OpenVINOInferencer(trained['default'], precision_hint='f32')
    floats = OpenVINOInferencer(trained['dynamic'], precision_hint='f32')
    names = sorted(photos)
    refs = _mmdet_on_files(trained, [photos[n] for n in names])
    for name, ref in zip(names, refs):
        result = inferencer(photos[name])
        other = floats(photos[name])
        np.testing.assert_array_equal(result['labels'], other['labels'])
        box_diff = np.abs(result['bboxes'] - other['bboxes']).max(
            initial=0)
        score_diff = np.abs(result['scores'] - other['scores']).max(
            initial=0)
        print(f'{detector} uint8 vs float {name}: {len(other["labels"])} '
              f'dets, max |box diff| {box_diff:.2e} px, max |score diff| '
              f'{score_diff:.2e}')
        assert box_diff <= 1e-2 and score_diff <= 1e-4
        count, iou, ds = _match(ref, result['bboxes'], result['scores'],
                                result['labels'])
        assert count >= 1  # verified: a detection >= VERIFIED_SCORE
        print(f'{detector} dynamic {name}: {count} torch dets >= 0.3, worst '
              f'IoU {iou:.5f}, worst |score diff| {ds:.2e}')


@pytest.mark.parametrize('detector', ['trained', 'trained_pico'],
                         ids=['retinanet', 'picodet-style'])
def test_static_export_on_photos_exact(detector, request):
    """``--static`` on the photos: where the config's padded shape is the
    export's (the square crop, and 251x333 whose 72x96 pads to 96x96 as
    mmdet pads it) the detections are mmdet's ``DetInferencer``'s on the
    file; elsewhere the static IR sees padding mmdet never shows the
    network, so it is compared with the torch model on that same padded
    input (what the graph must reproduce). How far the two inputs' answers
    differ is a property of the trained weights, not of the export: it is
    printed (docs/deploy.md, "Static or dynamic", has the measured figures)
    and not asserted (issue 11: a RetinaNet trained here gave a worst IoU of
    0.43 on an AMD EPYC and 0.28 on an Intel Xeon)."""
    trained = request.getfixturevalue(detector)
    photos = _photos(trained)
    inferencer = OpenVINOInferencer(_static_dir(trained),
                                    precision_hint='f32')
    # only for its preprocessing: the config's own padded shape
    dynamic = OpenVINOInferencer(trained['dynamic'], precision_hint='f32')
    names = sorted(photos)
    refs = _mmdet_on_files(trained, [photos[n] for n in names])
    exact, padded_only = [], []
    for name, ref in zip(names, refs):
        result = inferencer(photos[name])
        padded = dynamic.preprocess(photos[name])['input'].shape[2:]
        if padded == (SIZE, SIZE):  # e.g. 300x300 -> 96x96, 251x333 -> 72x96
            exact.append(name)
            count, iou, ds = _match(ref, result['bboxes'], result['scores'],
                                    result['labels'])
            assert count >= 1  # verified through the pipeline
            print(f'{detector} static {name} (exact): {count} torch dets, '
                  f'worst IoU {iou:.5f}, worst |score diff| {ds:.2e}')
            continue
        padded_only.append(name)
        n_ref, n_ir, iou, ds = _agreement(ref, result)
        print(f'{detector} static {name}: {n_ref} torch / {n_ir} IR dets >= '
              f'0.3, worst IoU {iou:.3f}, worst |score diff| {ds:.3f} '
              '(the padded input vs the pipeline\'s; not asserted)')
        info = inferencer.preprocess(photos[name])
        x, img_shape = info['input'], tuple(info['img_shape'])
        assert x.shape == (1, 3, SIZE, SIZE) and img_shape != (SIZE, SIZE)
        dets, labels = inferencer.infer_tensor(x, [img_shape])
        torch_dets = predict(trained['model'], x, [img_shape])[0]
        count, iou, ds = _match(torch_dets, dets[0, :, :4], dets[0, :, 4],
                                labels[0])
        assert count >= 1  # verified as case 'static_<name>'
        print(f'{detector} static {name}, torch on the padded input: '
              f'{count} dets, worst IoU {iou:.5f}, |score diff| {ds:.2e}')
    assert sorted(padded_only) == STATIC_PADDED and len(exact) == 2


def test_boxes_clipped_to_img_shape_before_nms(trained):
    """A padded batch with ``img_shape`` smaller than the input: the IR clips
    to img_shape (as mmdet's ``max_shape``), not to the padded input. The
    precondition (clipped to the padded input instead, a box >= 0.3 would
    reach into the padding) is one the training loop verified."""
    x = trained['cases']['clip'].x
    assert _clip_reaches_padding(trained['model'])
    inferencer = OpenVINOInferencer(trained['dynamic'], precision_hint='f32')
    dets, labels = inferencer.infer_tensor(x, [CLIP_IMG_SHAPE])
    ref = predict(trained['model'], x, [CLIP_IMG_SHAPE])[0]
    keep = labels[0] >= 0
    assert (dets[0, keep, 3] <= CLIP_IMG_SHAPE[0]).all()
    count, _, _ = _match(ref, dets[0, :, :4], dets[0, :, 4], labels[0])
    assert count >= 1


# ---- --nms host: the IR ends at the candidates, the inferencer runs NMS ----
def _host_dir(trained) -> str:
    """A ``--nms host`` export of the trained detector, made once: dynamic
    with the float input, as ``trained['dynamic']`` (the graph-NMS export it
    is compared with, also fed tensors)."""
    if 'host' not in trained:
        out = trained['root'] / 'ir_host'
        export(trained['config'], trained['checkpoint'], str(out),
               nms='host', input_form='float')
        trained['host'] = str(out)
    return trained['host']


def _op_types(model):
    """Every op type of an ``ov.Model``, the bodies of ``If``/``Loop``
    included (torchvision's ``batched_nms`` traces to an ``If``)."""
    for op in model.get_ordered_ops():
        yield op.get_type_name()
        if op.get_type_name() == 'If':
            for branch in range(2):
                yield from _op_types(op.get_function(branch))
        elif op.get_type_name() in ('Loop', 'TensorIterator'):
            yield from _op_types(op.get_function())


DATA_DEPENDENT_OPS = {'NonMaxSuppression', 'NonZero', 'If', 'Loop',
                      'TensorIterator'}


def _same_detections(a, b, where):
    """Graph-NMS and host-NMS results of one image: the same detections in
    the same order (count, labels exactly; boxes and scores to float
    noise)."""
    assert len(a['scores']) == len(b['scores']), (where, a['scores'],
                                                  b['scores'])
    np.testing.assert_array_equal(a['labels'], b['labels'], err_msg=where)
    np.testing.assert_allclose(a['scores'], b['scores'], atol=1e-5,
                               err_msg=where)
    # original pixels: up to ~7x the network's (640 px photo at 96)
    np.testing.assert_allclose(a['bboxes'], b['bboxes'], atol=1e-3,
                               err_msg=where)
    return len(a['scores'])


@pytest.mark.parametrize('detector', ['trained', 'trained_pico'],
                         ids=['retinanet', 'picodet-style'])
def test_host_nms_export_has_no_nms_and_matches_graph_nms(detector, request):
    """``--nms host``: fixed-size candidate outputs, no NonMaxSuppression /
    NonZero / If op in the IR, and through ``OpenVINOInferencer`` the same
    detections as the in-graph NMS on CPU, on the verified files (odd-size
    photos with shapes, shape images)."""
    import collections
    trained = request.getfixturevalue(detector)
    host_dir = _host_dir(trained)
    meta = json.load(open(osp.join(host_dir, 'deploy.json')))
    graph_meta = json.load(open(osp.join(trained['dynamic'], 'deploy.json')))
    assert graph_meta['postprocess'] == {'nms': 'graph'}
    assert meta['outputs'] == ['boxes', 'scores', 'labels']
    head_cfg = trained['model'].bbox_head.test_cfg
    assert meta['postprocess'] == dict(
        nms='host', iou_threshold=head_cfg.nms.iou_threshold,
        min_bbox_size=head_cfg.get('min_bbox_size', -1),
        class_agnostic=head_cfg.nms.get('class_agnostic', False),
        offset=head_cfg.nms.get('offset', 0))
    assert (meta['score_threshold'], meta['max_per_img']) == (
        graph_meta['score_threshold'], graph_meta['max_per_img'])

    core = ov.Core()
    graph_ops = collections.Counter(_op_types(core.read_model(
        osp.join(trained['dynamic'], 'model.xml'))))
    host_ops = collections.Counter(_op_types(core.read_model(
        osp.join(host_dir, 'model.xml'))))
    assert graph_ops['NonMaxSuppression'] == 1  # the walk finds it
    # ... and not inside an If (batched_nms's empty-input branch), whose
    # body OpenVINO runs as a subgraph: part of the cheap tail of the
    # like-for-like benchmark rows.
    assert graph_ops['If'] == 0, graph_ops
    assert not DATA_DEPENDENT_OPS & set(host_ops), host_ops
    # The candidate count is a constant of the graph, whatever the input.
    graph = OpenVINOInferencer(trained['dynamic'], precision_hint='f32')
    host = OpenVINOInferencer(host_dir, precision_hint='f32')
    counts = [o.get_partial_shape()[1] for o in host.compiled.outputs]
    assert all(c.is_static for c in counts), counts
    assert len({c.get_length() for c in counts}) == 1, counts

    for name, path in sorted(trained['files'].items()):
        a, b = graph(path), host(path)
        assert _same_detections(a, b, path) >= 1  # verified
        print(f'{detector} {name}: {len(a["scores"])} detections, same with '
              '--nms host')

    # A padded batch of two with different img_shape: the raw outputs
    # through DetectionTask.host_nms equal the graph's, padding included.
    case = trained['cases']['host_batch']
    x, img_shape = case.x, case.img_shapes
    dets, labels = graph.infer_tensor(x, img_shape)
    raw = host.infer_tensor(x, img_shape)
    assert raw[0].shape[:2] == raw[1].shape == raw[2].shape
    assert ((raw[1] == -1) | (raw[1] > meta['score_threshold'])).all()
    host_dets, host_labels = host.deploy_task.host_nms(raw, host.meta)
    assert (labels >= 0).any(1).all()  # verified: each image holds one
    np.testing.assert_array_equal(host_labels, labels)
    np.testing.assert_allclose(host_dets, dets, atol=1e-5)


HOST_META_BROKEN = {
    'place': (lambda m: m['postprocess'].update(nms='gpu'),
              "'postprocess.nms' must be one of ['graph', 'host']; got "
              "'gpu'"),
    'no iou': (lambda m: m['postprocess'].pop('iou_threshold'),
               "'postprocess.iou_threshold' must be a number in [0, 1]; it "
               'is missing'),
    'graph outputs': (lambda m: m.update(outputs=['dets', 'labels']),
                      "'outputs' must be ['boxes', 'scores', 'labels'] for "
                      "postprocess.nms 'host'; got ['dets', 'labels']"),
    'no postprocess': (lambda m: m.update(postprocess=None),
                       "'outputs' must be ['dets', 'labels'] for "
                       "postprocess.nms 'graph'"),
    'max_per_img': (lambda m: m.update(max_per_img=0),
                    "'max_per_img' must be an integer >= 1; got 0"),
}


@pytest.mark.parametrize('case', sorted(HOST_META_BROKEN))
def test_bad_host_nms_deploy_json_is_named(trained, tmp_path, case):
    """A host-NMS ``deploy.json`` is checked when read: a bad or missing
    field of its NMS is named, not a KeyError after inference."""
    import shutil

    from mmlcnetv2.deploy.manifest.schema import DeployFormatError
    edit, message = HOST_META_BROKEN[case]
    ir = tmp_path / 'ir'
    shutil.copytree(_host_dir(trained), ir)
    meta = json.loads((ir / 'deploy.json').read_text())
    edit(meta)
    (ir / 'deploy.json').write_text(json.dumps(meta))
    with pytest.raises(DeployFormatError) as info:
        OpenVINOInferencer(str(ir))
    assert str(info.value).startswith(str(ir / 'deploy.json') + ': ')
    assert message in str(info.value), str(info.value)


def test_host_nms_unknown_value_is_named(trained, tmp_path):
    out = tmp_path / 'bad'
    with pytest.raises(ValueError, match=r"nms must be one of \['graph', "
                       r"'host'\], got 'device'"):
        export(trained['config'], trained['checkpoint'], str(out),
               nms='device')
    assert not out.exists()


def _matched_with_margin(ref: dict, other: dict) -> tuple:
    """(ref dets >= INT8_SURE, how many have a same-label ``other`` det
    >= INT8_KEPT with IoU >= 0.5)."""
    from torchvision.ops import box_iou
    r, o = ref['scores'] >= INT8_SURE, other['scores'] >= INT8_KEPT
    if not r.any():
        return 0, 0
    if not o.any():
        return int(r.sum()), 0
    iou = box_iou(torch.from_numpy(ref['bboxes'][r]),
                  torch.from_numpy(other['bboxes'][o])).numpy()
    iou[ref['labels'][r][:, None] != other['labels'][o][None]] = 0
    return int(r.sum()), int((iou.max(1) >= 0.5).sum())


def test_host_nms_int8(trained, tmp_path):
    """int8 with ``--nms host``: calibration feeds the same two inputs, the
    IR is quantized and still free of data-dependent ops (so NNCF's full
    bias correction applies, which the If of the in-graph NMS forbids), and
    its detections agree with the f32 host-NMS export's on the verified
    files."""
    import collections
    # Calibration images from the training distribution, in COCO layout.
    coco = dict(type='CocoDataset', data_root=write_coco(tmp_path / 'calib',
                                                         16),
                ann_file='annotations.json', data_prefix=dict(img='images/'),
                metainfo=dict(classes=('square', 'circle')), pipeline=[])
    out = tmp_path / 'int8_host'
    meta = export(trained['config'], trained['checkpoint'], str(out),
                  precision='int8', calib=16, nms='host',
                  cfg_options={'train_dataloader': dict(dataset=coco)})
    assert meta['precision'] == 'int8'
    assert meta['calibration']['images'] == 16
    assert 'full bias correction' in meta['calibration']['method']
    ops = collections.Counter(_op_types(ov.Core().read_model(
        str(out / 'model.xml'))))
    assert ops['FakeQuantize'] > 0
    assert not DATA_DEPENDENT_OPS & set(ops), ops
    int8 = OpenVINOInferencer(str(out), precision_hint='f32')
    f32 = OpenVINOInferencer(_host_dir(trained), precision_hint='f32')
    # Both ways: f32 detections kept by int8, and int8 detections that f32
    # has too (no confident boxes made up); printed (see INT8_SURE).
    sure, kept = [0, 0], [0, 0]
    for path in trained['files'].values():
        a, b = f32(path), int8(path)
        h, w = cv2.imread(path).shape[:2]
        # What holds for any weights: the inferencer's result format.
        assert (np.diff(b['scores']) <= 0).all()
        assert (b['scores'] >= meta['score_threshold']).all()
        assert ((b['labels'] >= 0) & (b['labels'] < 2)).all()
        # in the image (to the float rounding of the rescale: 427.00003)
        assert (b['bboxes'] >= 0).all()
        assert (b['bboxes'][:, 0::2] <= w + 1e-3).all()
        assert (b['bboxes'][:, 1::2] <= h + 1e-3).all()
        for way, (ref, other) in enumerate(((a, b), (b, a))):
            n, m = _matched_with_margin(ref, other)
            sure[way], kept[way] = sure[way] + n, kept[way] + m
    # verified: every file holds an f32 detection >= VERIFIED_SCORE
    assert sure[0] >= len(trained['files']), sure
    print(f'int8 --nms host vs f32 on {len(trained["files"])} files: '
          f'{kept[0]} of {sure[0]} f32 detections >= {INT8_SURE} kept '
          f'(>= {INT8_KEPT}), {kept[1]} of {sure[1]} int8 ones found in f32 '
          '(not asserted: a property of the weights)')


def _graph_preprocessor(pre: dict):
    """What an ``--input image`` IR feeds its network, as a function of the
    decoded BGR image and ``(h, w)``: resized in the graph, normalized and
    padded, by an identity network with the same preprocessing added
    (compiled once)."""
    import openvino.opset13 as ops

    from mmlcnetv2.deploy.preprocess.graph import add_preprocessing
    x = ops.parameter([-1, 3, -1, -1], np.float32)
    img_shape = ops.parameter([-1, 2], np.float32)
    # named as every export names them (mmlcnetv2.deploy.ir_inputs)
    x.output(0).get_tensor().set_names({'input'})
    img_shape.output(0).get_tensor().set_names({'img_shape'})
    identity = ov.Model([ops.result(x), ops.result(img_shape)],
                        [x, img_shape])
    compiled = ov.Core().compile_model(
        add_preprocessing(identity, pre, dynamic=True, resize=True), 'CPU',
        {'INFERENCE_PRECISION_HINT': 'f32'})

    def preprocessed(img: np.ndarray, hw) -> np.ndarray:
        return compiled({0: img[None], 1: np.array([hw], np.float32)})[0]
    return preprocessed


@pytest.mark.parametrize('hw', [(427, 640), (251, 333), (97, 61)])
def test_graph_resize_within_one_grey_level_of_cv2(hw):
    """``--input image``: the graph's bilinear resize to ``img_shape``
    (then normalization and padding) against the host's cv2 path on a real
    photo at three odd sizes: every value within one grey level (1/std in
    normalized units), most exactly equal, the padding exact."""
    import mmcv
    from sklearn.datasets import load_sample_image

    from mmlcnetv2.deploy.preprocess.host import normalize, resized_shape
    pre = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
               color_order='RGB', pad_size_divisor=32, pad_value=0.0,
               steps=[dict(op='resize', keep_ratio=True, scale=[SIZE, SIZE],
                           interpolation='bilinear')])
    img = np.ascontiguousarray(load_sample_image('china.jpg')[
        :hw[0], :hw[1], ::-1])
    (h, w), _ = resized_shape(img.shape[:2], pre['steps'])
    out = _graph_preprocessor(pre)(img, (h, w))[0]
    ref = normalize(mmcv.imrescale(img, (SIZE, SIZE)), pre['mean'],
                    pre['std'], 'RGB')
    assert out.shape == (3, -(-h // 32) * 32, -(-w // 32) * 32)
    diff = np.abs(out[:, :h, :w] - ref)
    assert diff.max() <= 1 / min(pre['std']) + 1e-5, diff.max()
    assert (diff < 1e-5).mean() >= 0.8, (diff < 1e-5).mean()
    assert (out[:, h:] == 0).all() and (out[:, :, w:] == 0).all()


def test_image_input_detects_as_the_default_export(trained, tmp_path):
    """``--input image`` (the IR resizes the decoded image itself) is the
    graph's resize, then the network: on the verified files (photos of odd
    sizes with shapes, shape images of odd sizes, a 2x upscale) its
    detections equal the float export's on the graph-resized input (IoU >=
    0.99, scores within 1e-4, one to one); that resize is within a grey
    level of the host's (test_graph_resize_within_one_grey_level_of_cv2).
    How far that grey level moves the detections against the default
    export is a property of the weights: printed. deploy.json says
    ``resize`` runs in the graph."""
    from mmlcnetv2.deploy.tasks.det_matching import (match_detections,
                                                     unexplained)
    from mmlcnetv2.deploy.tasks.detection import real_rows
    out = tmp_path / 'image'
    meta = export(trained['config'], trained['checkpoint'], str(out),
                  input_form='image')
    assert meta['input']['preprocess_in_graph'][:2] == ['to_float', 'resize']
    image = OpenVINOInferencer(str(out), precision_hint='f32')
    floats = OpenVINOInferencer(trained['dynamic'], precision_hint='f32')
    default = OpenVINOInferencer(trained['default'], precision_hint='f32')
    graph_preprocessed = _graph_preprocessor(image.meta['preprocess'])
    sure, kept, rows = [0, 0], [0, 0], 0
    for name, path in trained['files'].items():
        info = image.preprocess(path)
        assert info['input'].shape[1:3] == cv2.imread(path).shape[:2]
        got = image.infer_tensor(info['input'], [info['img_shape']])
        x = graph_preprocessed(info['input'][0], info['img_shape'])
        ref = floats.infer_tensor(x, [info['img_shape']])
        a, b = (real_rows(dets[0], labels[0]) for dets, labels in (ref, got))
        pairs, lone_a, lone_b = match_detections(a, b, 0.99, 1e-4)
        assert unexplained(a, b, lone_a, lone_b, 1e-4) == 0, name
        rows += len(pairs)
        r, o = default(path), image(path)
        for way, (one, other) in enumerate(((r, o), (o, r))):
            n, m = _matched_with_margin(one, other)
            sure[way], kept[way] = sure[way] + n, kept[way] + m
    print(f'--input image = graph resize + network: {rows} detections '
          f'matched; against the default export: {kept} of {sure} kept '
          '(not asserted)')
    assert sure[0] >= len(trained['files']), sure  # verified


@pytest.mark.parametrize('case', ['static', 'classifier'])
def test_image_input_refused_where_the_graph_cannot_resize(
        trained, tmp_path, case):
    """``--input image`` needs a dynamic export: a static detector or a
    classifier (static) is refused by name before anything is written."""
    from helpers import CLASSIFIER
    out = tmp_path / 'out'
    if case == 'static':
        args = (trained['config'], trained['checkpoint'])
        kwargs = dict(dynamic=False)
        words = 'static'
    else:
        cfg = tmp_path / 'cls.py'
        cfg.write_text(CLASSIFIER.replace('{root}', str(tmp_path)).replace(
            '{classes}', repr(('a', 'b', 'c'))))
        args, kwargs, words = (str(cfg), None), {}, 'static'
    with pytest.raises(ValueError, match=words):
        export(*args, str(out), input_form='image', **kwargs)
    assert not out.exists()
