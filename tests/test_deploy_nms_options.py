"""Issue 26, item 4: a detector export follows every NMS option mmdet
applies (``test_cfg.nms``'s ``class_agnostic``, ``max_num``, ``offset``,
``score_threshold``; ``nms_pre``, ``min_bbox_size``, ``score_thr``,
``max_per_img``) or refuses it in one line, and its self-check compares the
IR with mmdet's own ``predict``, so an option the export ignored cannot
pass.

The parity test is on real photos against mmdet's ``DetInferencer``, with
planted weights (a RetinaNet head on a thin PP-LCNetV2 whose 80 class
scores sit around sigmoid(-2): each anchor scores several classes, so
detections of different classes overlap and class-agnostic NMS removes
some of them).
"""
import os.path as osp

import numpy as np
import pytest
import torch

from helpers import one_thread  # noqa: F401  (fixture)
from photos import photo_files
from test_deploy_upstream import (DETECTORS, match_one_to_one, mmdet_results,
                                  plant_detector, random_checkpoint,
                                  write_config)

ov = pytest.importorskip('openvino')

RETINANET = DETECTORS['retinanet'][0]
#: What mmdet's RetinaNet config has, plus the options under test.
OPTIONS = """
model.update(test_cfg=dict(nms=dict(class_agnostic=True, max_num=25,
                                    offset=1)))
"""


@pytest.fixture(scope='module')
def planted(tmp_path_factory):
    """Class-aware and option configs, one planted checkpoint, photos."""
    root = tmp_path_factory.mktemp('nms')
    photos = photo_files(root)
    aware = write_config(root, 'aware', RETINANET)
    options = write_config(root, 'options', RETINANET + OPTIONS)
    ckpt = str(root / 'model.pth')
    random_checkpoint(aware, ckpt, photos['china'],
                      plant_detector('retinanet'))
    return dict(root=root, photos=photos, aware=aware, options=options,
                ckpt=ckpt)


def _cross_class_overlaps(result: dict, iou_thr: float = 0.5) -> int:
    """Pairs of detections of different classes with IoU above
    ``iou_thr``: what class-agnostic NMS at that threshold removes."""
    from torchvision.ops import box_iou
    iou = box_iou(torch.from_numpy(result['bboxes']),
                  torch.from_numpy(result['bboxes'])).numpy()
    other = result['labels'][:, None] != result['labels'][None]
    return int(np.triu((iou > iou_thr) & other, 1).sum())


@pytest.mark.slow
@pytest.mark.parametrize('nms', ['graph', 'host'])
def test_nms_options_match_det_inferencer_on_photos(planted, nms,
                                                    tmp_path):
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    images = [planted['photos']['china'],
              planted['photos']['flower_251x333']]
    aware = mmdet_results(planted['aware'], planted['ckpt'], images)
    refs = mmdet_results(planted['options'], planted['ckpt'], images)
    # The precondition, by construction: the options change mmdet's result.
    for a, r in zip(aware, refs):
        assert _cross_class_overlaps(a) > 10, _cross_class_overlaps(a)
        assert _cross_class_overlaps(r) == 0
        assert len(a['scores']) > 25 and len(r['scores']) == 25
    meta = export(planted['options'], planted['ckpt'], str(tmp_path / 'ir'),
                  nms=nms)
    ir = OpenVINOInferencer(str(tmp_path / 'ir'), precision_hint='f32')
    for image, ref in zip(images, refs):
        match_one_to_one(ref, ir(image))
    assert 'mmdet\'s predict' in meta['conversion_check']['summary']
    if nms == 'host':
        post = meta['postprocess']
        assert post['class_agnostic'] is True and post['offset'] == 1
        assert meta['max_per_img'] == 25


@pytest.mark.slow  # two conversions
def test_self_check_compares_with_mmdet_not_the_wrapper(planted):
    """A wrapper that ignores class_agnostic (as the export did before)
    fails the export's self-check."""
    from mmlcnetv2.apis.build import build_model, load_config
    from mmlcnetv2.deploy.exporting import convert_checked
    from mmlcnetv2.deploy.tasks import get_task
    from mmlcnetv2.errors import UnsupportedModelError
    from mmengine.runner import load_checkpoint
    cfg = load_config(planted['options'])
    model = build_model(cfg)
    load_checkpoint(model, planted['ckpt'], map_location='cpu')
    model.eval()
    task = get_task('detection')
    wrapper = task.wrap(model)
    import cv2
    img = cv2.resize(cv2.imread(planted['photos']['china']), (256, 160))
    x = model.data_preprocessor(dict(inputs=[torch.from_numpy(img).permute(
        2, 0, 1).contiguous()]), False)['inputs']
    example = (x, torch.tensor([[160.0, 256.0]]))
    convert_checked(wrapper, example, False, task)  # as configured: passes
    wrapper.class_agnostic = False
    with pytest.raises(UnsupportedModelError, match='disagrees'):
        convert_checked(wrapper, example, False, task)


def _random_boxes(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 50
    wh = 5 + torch.rand(n, 2, generator=g) * 20
    boxes = torch.cat([xy, xy + wh], 1)
    return boxes, torch.rand(n, generator=g), torch.randint(
        0, 3, (n, ), generator=g)


@pytest.mark.parametrize('nms_cfg', [
    dict(iou_threshold=0.3),
    dict(iou_threshold=0.3, class_agnostic=True),
    dict(iou_threshold=0.3, max_num=7),
    dict(iou_threshold=0.3, offset=1),
    dict(iou_threshold=0.5, class_agnostic=True, offset=1, max_num=5),
])
def test_select_detections_is_mmcvs_batched_nms(nms_cfg):
    """The NMS the graph traces (and the host runs) keeps what mmcv's
    ``batched_nms`` (mmdet's) keeps, for each option."""
    from mmcv.ops import batched_nms
    from mmlcnetv2.deploy.tasks.detection import select_detections
    boxes, scores, labels = _random_boxes(200, 0)
    dets, _ = batched_nms(boxes, scores, labels, dict(type='nms', **nms_cfg))
    mine, mine_labels = select_detections(
        boxes[None], scores[None], labels[None], 0.0,
        nms_cfg['iou_threshold'], nms_cfg.get('max_num', 200), 3,
        class_agnostic=nms_cfg.get('class_agnostic', False),
        offset=nms_cfg.get('offset', 0))
    mine = mine[0][mine_labels[0] >= 0]
    assert torch.equal(mine, dets), (len(mine), len(dets))


def test_offset_matters_here():
    """The offset case above is not vacuous: two boxes whose IoU crosses
    0.84 only with mmcv's 1-pixel offset."""
    from mmlcnetv2.deploy.tasks.detection import select_detections
    boxes = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 12]]])
    scores, labels = torch.tensor([[0.9, 0.8]]), torch.tensor([[0, 0]])
    kept = [int((select_detections(boxes, scores, labels, 0.0, 0.84, 5, 1,
                                   offset=o)[1] >= 0).sum()) for o in (0, 1)]
    assert kept == [2, 1]


@pytest.mark.parametrize('option,expected', [
    ('model.test_cfg.nms.offset=2', 'test_cfg.nms.offset=2'),
    ('model.test_cfg.nms.type=soft_nms', 'only plain NMS'),
    ('model.test_cfg.min_bbox_size=4', 'test_cfg.min_bbox_size=4'),
])
def test_options_not_followed_are_refused_in_one_line(
        planted, option, expected, capsys, tmp_path):
    from mmlcnetv2.commands import deploy as deploy_tool
    out = tmp_path / 'ir'
    assert deploy_tool.main([planted['aware'], planted['ckpt'],
                             '--out', str(out), '--cfg-options',
                             option]) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and expected in err, err
    assert not out.exists()
