"""OpenVINO Model API (the real ``openvino-model-api`` package) on our IRs.

Every export's ``model.xml`` carries ``rt_info['model_info']``, so that
``Model.create_model`` picks a wrapper and its class names; the
self-contained ``model_api.xml`` (written by default where the export has
that form) gives
what ``OpenVINOInferencer`` gives on the default export, on real photos:
the same top-k (classification), the same boxes, labels and scores
(detection), the same class map (segmentation). The agreement is not exact
by construction: the graph's bilinear resize is within one grey level of
cv2's, not equal (docs/deploy.md, "OpenVINO Model API").

Random weights at scale 0.25; a detector's classification bias is planted
so that there are detections to compare.
"""
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import build_model, load_config, register_scope
from mmlcnetv2.deploy import OpenVINOInferencer, export
from mmlcnetv2.deploy.model_api.rt_info import class_names, label_string
from helpers import one_thread  # noqa: F401  (fixture)
from helpers import (CLASSIFIER, RETINANET, SEGMENTOR, bn_statistics_of,
                     randomize_weights, snapshot)
from photos import photo_files

ov = pytest.importorskip('openvino')
model_api = pytest.importorskip('model_api.models')

# Class names with a space (and one with an underscore) in every task.
CLS_CLASSES = ('cat', 'traffic light', 'fire_hydrant')
DET_CLASSES = ('square', 'round thing')
SEG_CLASSES = ('bg', 'a b', 'c', 'd e f')


def _exported(root, config: str, plant=None, **kwargs) -> dict:
    """Build the config's model with random weights (``plant`` then edits
    it), save it, and export it into ``root`` (``default``, which holds
    ``model_api.xml`` too: ``model_api``)."""
    cfg_path = root / 'model.py'
    cfg_path.write_text(config)
    cfg = load_config(str(cfg_path))
    register_scope(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    randomize_weights(model)
    if plant is not None:
        with torch.no_grad():
            plant(model)
    ckpt = root / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = dict(default=str(root / 'default'))
    meta = export(str(cfg_path), str(ckpt), out['default'], **kwargs)
    assert 'model_api.xml' in meta['files']  # the default writes it
    out['model_api'] = out['default']
    out.update(config=str(cfg_path), checkpoint=str(ckpt))
    return out


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    return photo_files(tmp_path_factory.mktemp('photos'))


def _spread_logits(photos):
    """The random classifier's logits hardly depend on the image (the same
    top-3 and scores to 1e-3 on every photo), which would make "the same
    top-k" trivial: BN statistics of the photos (:func:`bn_statistics_of`),
    then the fc layer scaled so that the logits' spread over the photos is
    about 1, centred on 0. (Scaling alone amplified f32 rounding ~3000x:
    the export's self-check refused the IR.)"""
    import cv2

    def plant(model):
        images = [cv2.resize(_bgr(p), (64, 64))[:, :, ::-1] for p in
                  photos.values()]
        x = (torch.from_numpy(np.stack(images).astype(np.float32)).permute(
            0, 3, 1, 2) - 127.5) / 60.0
        # A trained stem's filters are smooth; random 3x3 ones amplify the
        # one-grey-level difference of the graph's resize ~5x more.
        stem = next(m for m in model.modules()
                    if isinstance(m, torch.nn.Conv2d))
        stem.weight.copy_(stem.weight.mean((2, 3), keepdim=True).expand_as(
            stem.weight))
        bn_statistics_of(model, x)
        fc = model.head.fc
        logits = model.head(model.extract_feat(x)) - fc.bias
        scale = 1.0 / float(logits.std(0).mean())
        fc.weight *= scale
        fc.bias.copy_(-scale * logits.mean(0))

    return plant


@pytest.fixture(scope='module')
def cls(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp('cls')
    return _exported(root, CLASSIFIER.format(root=root,
                                             classes=repr(CLS_CLASSES)),
                     _spread_logits(photos))


def _plant_detections(model):
    """A head that gives boxes near its anchors with spread-out scores:
    small random box deltas, small classification weights, class 1's bias
    at 0 (sigmoid ~0.5, so there are detections above 0.3) and class 0's
    at -1.5. (The randomized head saturates: every score 1.0, boxes the
    size of the image, and ties leave NMS's choice arbitrary.)"""
    head = model.bbox_head
    torch.nn.init.normal_(head.retina_reg.weight, std=0.002)
    head.retina_reg.bias.zero_()
    torch.nn.init.normal_(head.retina_cls.weight, std=0.002)
    bias = head.retina_cls.bias.view(-1, head.cls_out_channels)
    bias[:, 0] = -1.5
    bias[:, 1] = 0.0


@pytest.fixture(scope='module')
def det(tmp_path_factory):
    config = (RETINANET % (50, 96, 96)).replace(
        "('square', 'circle')", repr(DET_CLASSES))
    return _exported(tmp_path_factory.mktemp('det'), config,
                     _plant_detections)


@pytest.fixture(scope='module')
def seg(tmp_path_factory):
    config = SEGMENTOR.replace("('bg', 'a', 'b', 'c')", repr(SEG_CLASSES))
    return _exported(tmp_path_factory.mktemp('seg'), config)


def _create(path: str):
    """Model API's wrapper for the IR at ``path``, at the f32 precision
    hint the inferencers get here (OpenVINO's CPU default may be bf16)."""
    from model_api.adapters import OpenvinoAdapter, create_core
    adapter = OpenvinoAdapter(create_core(), path, device='CPU',
                              plugin_config={'INFERENCE_PRECISION_HINT': 'f32',
                                             'NUM_STREAMS': '1',
                                             'INFERENCE_NUM_THREADS': '1'})
    return model_api.Model.create_model(adapter)


def _bgr(path: str) -> np.ndarray:
    import cv2
    return cv2.imread(path)


@pytest.mark.parametrize('task,wrapper', [('cls', 'Classification'),
                                          ('det', 'SSD'),
                                          ('seg', 'Segmentation')])
def test_every_export_loads_in_model_api_with_exact_names(task, wrapper,
                                                          request):
    """``model_api.xml``: Model API picks the wrapper from ``model_info``
    (it refused an IR without: ``There is no model with name uknown``),
    one label per class (a name with a space is not split, so no later
    label shifts), and the exact names are in ``label_info`` (of
    ``model.xml`` too)."""
    import os.path as osp
    dirs = request.getfixturevalue(task)
    classes = {'cls': CLS_CLASSES, 'det': DET_CLASSES,
               'seg': SEG_CLASSES}[task]
    path = osp.join(dirs['model_api'], 'model_api.xml')
    model = _create(path)
    assert type(model).__model__ == wrapper
    assert model.params.labels == label_string(classes).split()
    assert len(model.params.labels) == len(classes)
    assert model.params.embedded_processing
    for path in (path, osp.join(dirs['default'], 'model.xml')):
        assert class_names(ov.Core().read_model(path)) == list(classes)


@pytest.mark.parametrize('task', ['cls', 'det', 'seg'])
def test_model_xml_names_no_wrapper(task, request):
    """``model.xml`` names no Model API wrapper: Model API cannot give our
    results on it (its own resize; a detector's ``img_shape`` filled with
    ``[h, w, 1]``: the SSD wrapper loaded a detector's ``model.xml`` and
    then failed on every image, "cannot select an axis to squeeze out"),
    so it refuses it when loading instead."""
    import os.path as osp
    from model_api.models.model import WrapperError
    path = osp.join(request.getfixturevalue(task)['default'], 'model.xml')
    with pytest.raises(WrapperError, match='There is no model with name'):
        _create(path)


def test_labels_escape_whitespace():
    assert label_string(['traffic light', 'a\tb', 'x_y']) == \
        'traffic_light a_b x_y'


def test_classification_same_topk_as_inferencer(cls, photos):
    """Model API's top-3 on ``model_api.xml`` = the inferencer's on the
    default export: the same classes in the same order, scores within 0.05
    (the graph's resize is within one grey level of cv2's, not equal; the
    random classifier turns that into 0.024 at most on this Zen 4)."""
    import os.path as osp
    ours = OpenVINOInferencer(cls['default'], precision_hint='f32')
    theirs = _create(osp.join(cls['model_api'], 'model_api.xml'))
    worst, tops = 0.0, set()
    for name, path in photos.items():
        ref = ours(path)
        got = theirs(_bgr(path)).top_labels
        order = list(np.argsort(-ref['scores'])[:3])
        assert [int(label.id) for label in got] == order, name
        assert [label.name for label in got] == \
            [label_string([CLS_CLASSES[i]]) for i in order]
        diff = max(abs(float(label.confidence) - ref['scores'][label.id])
                   for label in got)
        worst = max(worst, diff)
        tops.add(tuple(order))
    print(f'classification: top-3 equal on {len(photos)} photos, worst '
          f'score difference {worst:.2e}')
    assert len(tops) > 1  # the photos' top-3 differ: the model looks
    assert worst <= 0.05


def _matched(ref: dict, got, score_tol: float = 0.02) -> tuple:
    """Match Model API's detections to the inferencer's, best score first:
    to each the unused one of the same label, score within ``score_tol``,
    that overlaps it most (IoU >= 0.5). The matched fraction of the larger
    set and the worst box corner distance (pixels) among the matches."""
    from torchvision.ops import box_iou
    boxes = np.asarray(got.bboxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0 or len(ref['scores']) == 0:
        return float(len(boxes) == len(ref['scores'])), 0.0
    iou = box_iou(torch.from_numpy(ref['bboxes']),
                  torch.from_numpy(boxes)).numpy()
    iou[ref['labels'][:, None] != np.asarray(got.labels)[None]] = 0
    iou[np.abs(ref['scores'][:, None] - np.asarray(got.scores)[None])
        > score_tol] = 0
    matched, worst = 0, 0.0
    for i in np.argsort(-ref['scores']):
        j = int(iou[i].argmax())
        if iou[i, j] < 0.5:
            continue
        iou[:, j] = 0
        matched += 1
        worst = max(worst, float(np.abs(boxes[j] - ref['bboxes'][i]).max()))
    return matched / max(len(ref['scores']), len(boxes)), worst


def test_detection_same_boxes_as_inferencer(det, photos):
    """Model API's SSD wrapper on ``model_api.xml``: the inferencer's
    detections (the default export) on the photos, matched one to one by
    detections of the same class and score (within 0.02), corners within
    one pixel of the network's input (Model API rounds to whole pixels; the
    graph's resize differs from cv2's by up to one grey level)."""
    import os.path as osp
    ours = OpenVINOInferencer(det['default'], precision_hint='f32')
    theirs = _create(osp.join(det['model_api'], 'model_api.xml'))
    names = set()
    for name, path in photos.items():
        ref = ours(path)
        got = theirs(_bgr(path))
        assert len(ref['scores']) >= 5, name  # the planted detections
        fraction, worst = _matched(ref, got)
        # Image pixels per network-input pixel.
        pixel = 1 / min(ours.preprocess(path)['scale'])
        names |= set(got.label_names)
        print(f'detection {name}: {len(ref["scores"])} detections, '
              f'{fraction:.3f} matched, worst corner {worst:.2f} px '
              f'({worst / pixel:.2f} input px)')
        assert fraction >= 0.95, name
        assert worst <= pixel, name
    assert 'round_thing' in names  # label_string's escape of 'round thing'


def test_segmentation_same_mask_as_inferencer(seg, photos):
    """Model API's class map on ``model_api.xml`` equals the inferencer's
    on at least 99 % of the pixels of each photo."""
    import os.path as osp
    ours = OpenVINOInferencer(seg['default'], precision_hint='f32')
    theirs = _create(osp.join(seg['model_api'], 'model_api.xml'))
    for name, path in photos.items():
        ref = ours(path)['seg']
        got = theirs(_bgr(path)).resultImage
        assert got.shape == ref.shape, name
        assert len(np.unique(ref)) > 1, name  # a map worth comparing
        agree = float((got == ref).mean())
        print(f'segmentation {name}: {agree:.5f} of pixels equal')
        assert agree >= 0.99, name


def test_model_api_refused_where_no_self_contained_form(det, tmp_path):
    """The float input form and a host-NMS detector have no self-contained
    form: asked for, refused by name, nothing written; by default, left
    out."""
    out = tmp_path / 'out'
    for kwargs in (dict(input_form='float'), dict(nms='host')):
        meta = export(det['config'], det['checkpoint'], str(tmp_path / 'd'),
                      **kwargs)
        assert 'model_api.xml' not in meta['files']
    for kwargs, words in ((dict(input_form='float'), 'uint8 input form'),
                          (dict(nms='host'), '--nms graph')):
        with pytest.raises(ValueError, match=words):
            export(det['config'], det['checkpoint'], str(out),
                   model_api=True, **kwargs)
        assert not out.exists()
    # Into a previous export: it stays as it was.
    before = snapshot(det['default'])
    with pytest.raises(ValueError, match='uint8 input form'):
        export(det['config'], det['checkpoint'], det['default'],
               model_api=True, input_form='float')
    assert snapshot(det['default']) == before


def _resized_photo(photos, tmp_path, task: str, dirs: dict) -> str:
    """china.jpg already at the size the test pipeline resizes it to (the
    classifier's short edge, the detector's and segmentor's keep-ratio
    fit), as a PNG: the graph's resize is then the identity, so the
    self-contained IR must give the inferencer's numbers exactly."""
    import cv2
    ours = OpenVINOInferencer(dirs['default'], precision_hint='f32')
    info = ours.preprocess(photos['china'])
    h, w = info['ori_shape']
    sx, sy = info['scale']
    img = cv2.resize(_bgr(photos['china']), (round(w * sx), round(h * sy)),
                     interpolation=cv2.INTER_AREA)
    if task == 'cls':  # the crop must stay: the short edge, not the crop
        step = ours.meta['preprocess']['steps'][0]
        img = cv2.resize(_bgr(photos['china']),
                         (int(step['scale'] * w / h), step['scale']),
                         interpolation=cv2.INTER_AREA)
    path = str(tmp_path / f'{task}.png')
    cv2.imwrite(path, img)
    again = ours.preprocess(path)
    assert again['scale'] == (1.0, 1.0) or task == 'cls'
    return path


@pytest.mark.parametrize('task', ['cls', 'det', 'seg'])
def test_exact_where_the_resize_is_the_identity(task, photos, request,
                                                tmp_path):
    """The geometry (sizes, crop offset, box frame, logits crop and resize)
    is the inferencer's: on an image the pipeline does not resize, Model
    API's results equal the inferencer's (boxes to Model API's whole-pixel
    rounding)."""
    import os.path as osp
    dirs = request.getfixturevalue(task)
    path = _resized_photo(photos, tmp_path, task, dirs)
    ref = OpenVINOInferencer(dirs['default'], precision_hint='f32')(path)
    got = _create(osp.join(dirs['model_api'], 'model_api.xml'))(_bgr(path))
    if task == 'cls':
        assert [int(label.id) for label in got.top_labels] == \
            list(np.argsort(-ref['scores'])[:3])
        assert max(abs(float(label.confidence) - ref['scores'][label.id])
                   for label in got.top_labels) <= 1e-5
    elif task == 'det':
        assert len(ref['scores']) >= 5
        # Model API drops boxes of at most 1 px^2 once rounded to whole
        # pixels (ssd.BBOX_AREA_THRESHOLD), e.g. a 0.4 px wide one.
        box = np.round(ref['bboxes'])
        keep = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]) > 1
        ref = {k: v[keep] for k, v in ref.items() if k != 'class_names'}
        fraction, worst = _matched(ref, got, score_tol=1e-5)
        assert fraction == 1.0
        assert worst <= 0.5 + 1e-3  # Model API rounds to whole pixels
    else:
        assert len(np.unique(ref['seg'])) > 1
        assert float((got.resultImage == ref['seg']).mean()) >= 0.9999


# ---- RTMDet-style (Pad to a fixed size) and 150 classes (issue 26, item 5)

#: RTMDet-tiny as mmdet ships it (CSPNeXt-PAFPN, RTMDetSepBNHead, a test
#: pipeline that pads to a fixed size with 114), PP-LCNetV2 at scale 0.25
#: in place of CSPNeXt, thin neck and head, at 96 px.
RTMDET = f"""
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
custom_imports = dict(imports=['mmlcnetv2'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='PPLCNetV2',
                  arch=dict(scale=0.25, depths=[1, 1, 1, 1]),
                  out_indices=(1, 2, 3)),
    neck=dict(in_channels=[64, 128, 256], out_channels=32,
              num_csp_blocks=1),
    bbox_head=dict(num_classes=2, in_channels=32, feat_channels=32,
                   stacked_convs=1),
    test_cfg=dict(nms_pre=1000, score_thr=0.3, max_per_img=50,
                  nms=dict(type='nms', iou_threshold=0.5)))
test_dataloader = dict(dataset=dict(
    metainfo=dict(classes={DET_CLASSES!r}),
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='Resize', scale=(96, 96), keep_ratio=True),
              dict(type='Pad', size=(96, 96),
                   pad_val=dict(img=(114, 114, 114))),
              dict(type='PackDetInputs')]))
"""


def _plant_rtmdet(model):
    """As :func:`_plant_detections`, for RTMDet's per-level convs: box
    distances about one stride (bias 1: the head multiplies by the
    stride), class 1 near sigmoid 0.5, class 0 below."""
    head = model.bbox_head
    for cls_conv, reg_conv in zip(head.rtm_cls, head.rtm_reg):
        torch.nn.init.normal_(reg_conv.weight, std=0.002)
        reg_conv.bias.fill_(1.0)
        torch.nn.init.normal_(cls_conv.weight, std=0.002)
        cls_conv.bias[0] = -1.5
        cls_conv.bias[1] = 0.0


@pytest.fixture(scope='module')
def rtmdet(tmp_path_factory):
    return _exported(tmp_path_factory.mktemp('rtmdet'), RTMDET,
                     _plant_rtmdet)


def _inside_image(ref: dict, hw) -> dict:
    """The inferencer's detections as Model API's rules leave them: boxes
    clipped to the image, those of at most 1 px^2 dropped. (After a Pad,
    mmdet, and so the inferencer, keeps boxes in the padding, beyond the
    image; Model API clips them to it.)"""
    h, w = hw
    boxes = ref['bboxes'].copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
    keep = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) > 1
    return dict(bboxes=boxes[keep], scores=ref['scores'][keep],
                labels=ref['labels'][keep])


def test_rtmdet_style_detector_same_boxes_as_inferencer(rtmdet, photos):
    """An RTMDet-style detector (its test pipeline pads to a fixed size,
    which the IR does) gets ``model_api.xml`` (it got none, and its
    ``model.xml`` loaded as SSD, then failed on every image), and Model
    API's SSD wrapper on it gives the inferencer's detections, matched as
    in :func:`test_detection_same_boxes_as_inferencer`."""
    import os.path as osp
    ours = OpenVINOInferencer(rtmdet['default'], precision_hint='f32')
    assert ours.meta['model_api'] == dict(file='model_api.xml',
                                          why_not=None)
    theirs = _create(osp.join(rtmdet['model_api'], 'model_api.xml'))
    assert type(theirs).__model__ == 'SSD'
    for name, path in photos.items():
        ref = _inside_image(ours(path), _bgr(path).shape[:2])
        got = theirs(_bgr(path))
        assert len(ref['scores']) >= 5, name  # the planted detections
        fraction, worst = _matched(ref, got)
        pixel = 1 / min(ours.preprocess(path)['scale'])
        print(f'rtmdet {name}: {len(ref["scores"])} detections in the '
              f'image, {fraction:.3f} matched, worst corner {worst:.2f} px')
        assert fraction >= 0.95, name
        assert worst <= pixel, name


#: 150 classes (ADE20K's count), more than cv2.resize takes channels.
SEG150_CLASSES = tuple(f'class {i}' for i in range(150))


@pytest.fixture(scope='module')
def seg150(tmp_path_factory):
    config = SEGMENTOR.replace(
        "('bg', 'a', 'b', 'c')", repr(SEG150_CLASSES)).replace(
        'num_classes=4', 'num_classes=150')
    return _exported(tmp_path_factory.mktemp('seg150'), config)


def test_150_class_segmentor_same_mask_as_inferencer(seg150, photos):
    """A 150-class segmentor (ADE20K's count) runs in Model API's
    SegmentationModel: it crashed on every photo (``cv2.resize`` of the
    150-channel soft prediction; OpenCV 5 takes at most 128 channels).
    ``return_soft_prediction`` is off, so the result is the class map,
    equal to the inferencer's on at least 99 % of each photo's pixels."""
    import os.path as osp
    ours = OpenVINOInferencer(seg150['default'], precision_hint='f32')
    theirs = _create(osp.join(seg150['model_api'], 'model_api.xml'))
    assert type(theirs).__model__ == 'Segmentation'
    for name, path in photos.items():
        ref = ours(path)['seg']
        got = theirs(_bgr(path))
        assert isinstance(got, np.ndarray), type(got)  # the class map
        assert got.shape == ref.shape, name
        assert len(np.unique(ref)) > 1, name
        agree = float((got == ref).mean())
        print(f'segmentation (150 classes) {name}: {agree:.5f} equal')
        assert agree >= 0.99, name


def test_export_says_why_no_model_api_xml(det, tmp_path, capsys):
    """Where ``model_api.xml`` is not written by default (here: the float
    input form), ``tools/deploy.py`` says why in one line and
    ``deploy.json`` records it (``model_api``); a bicubic resize (DeiT,
    ConvNeXt) is named the same way."""
    import json
    import os.path as osp
    import sys
    from test_train_helpers import ROOT
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import deploy
    out = tmp_path / 'float'
    assert deploy.main([det['config'], det['checkpoint'], '--out', str(out),
                        '--input', 'float']) == 0
    lines = [line for line in capsys.readouterr().out.splitlines()
             if 'model_api.xml' in line]
    assert lines == ["no model_api.xml (OpenVINO Model API): no "
                     "self-contained form: it takes the uint8 input form "
                     "(--input uint8) only, got input dtype 'float32' with "
                     "preprocess_in_graph []"], lines
    with open(out / 'deploy.json') as f:
        record = json.load(f)['model_api']
    assert record['file'] is None
    assert 'uint8 input form' in record['why_not']
    assert not osp.exists(out / 'model_api.xml')
    from mmlcnetv2.deploy.model_api.self_contained import unsupported
    meta = OpenVINOInferencer(det['default']).meta
    meta['preprocess']['steps'][0]['interpolation'] = 'bicubic'
    assert unsupported(meta) == ("bilinear resizes only, got resize with "
                                 "interpolation 'bicubic'")
