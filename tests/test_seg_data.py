"""The shapes_seg generator and the checks on user masks (CheckSegMap)."""
import filecmp
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, TRANSFORMS

import mmlcnetv2  # noqa: F401  (registers CheckSegMap)
from mmlcnetv2.datasets import CheckSegMap
from mmlcnetv2.datasets.transforms import SegMapError
from helpers import one_thread  # noqa: F401  (autouse fixture)
from mmlcnetv2.datasets.generate.shapes_seg import CLASSES, make_shapes_seg

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'seg', 'lraspp_lcnetv2-small_shapes-demo.py')


@pytest.fixture(scope='module')
def demo_cfg():
    cfg = Config.fromfile(DEMO)
    init_default_scope(cfg.default_scope)
    return cfg


@pytest.fixture
def shapes(tmp_path):
    root = str(tmp_path / 'shapes_seg')
    assert make_shapes_seg(root, num_train=3, num_val=2, img_size=64)
    return root


def _files(root):
    return sorted(osp.relpath(osp.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def test_make_shapes_seg_is_deterministic_and_valid(tmp_path, shapes):
    other = str(tmp_path / 'again')
    make_shapes_seg(other, num_train=3, num_val=2, img_size=64)
    files = _files(shapes)
    assert files == _files(other)
    assert len([f for f in files if f.startswith('img_dir')]) == 5
    _, mismatch, errors = filecmp.cmpfiles(shapes, other, files,
                                           shallow=False)
    assert not mismatch and not errors
    for name in files:
        if name.startswith('ann_dir'):
            mask = cv2.imread(osp.join(shapes, name), cv2.IMREAD_UNCHANGED)
            img = cv2.imread(
                osp.join(shapes, name.replace('ann_dir', 'img_dir')
                         .replace('.png', '.jpg')))
            assert mask.dtype == np.uint8 and mask.shape == img.shape[:2]
            assert mask.max() < len(CLASSES) and mask.max() > 0
    # Rerunning with the same arguments keeps the data; --force rewrites it.
    assert not make_shapes_seg(shapes, num_train=3, num_val=2, img_size=64)
    assert make_shapes_seg(shapes, num_train=3, num_val=2, img_size=64,
                           force=True)
    assert _files(shapes) == files
    with pytest.raises(ValueError, match='num_train must be >= 1, got 0'):
        make_shapes_seg(str(tmp_path / 'bad'), num_train=0)
    assert not osp.exists(tmp_path / 'bad')


def test_demo_dataset_loads(demo_cfg, shapes):
    for loader in ('train_dataloader', 'val_dataloader'):
        dataset = DATASETS.build(
            dict(demo_cfg[loader].dataset, data_root=shapes))
        assert dataset.metainfo['classes'] == CLASSES
        sample = dataset[0]
        meta = sample['data_samples']
        seg = meta.gt_sem_seg.data
        # Training crops image and mask alike; evaluation keeps the mask at
        # the original size (predictions are resized back to it).
        expected = (meta.img_shape if loader == 'train_dataloader' else
                    meta.ori_shape)
        assert tuple(seg.shape[-2:]) == tuple(expected)
        assert int(seg.max()) < len(CLASSES)


def _corrupt(path: str, how: str) -> None:
    mask = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if how == 'size':
        mask = cv2.resize(mask, (mask.shape[1] + 8, mask.shape[0] - 4),
                          interpolation=cv2.INTER_NEAREST)
    elif how == 'label':
        mask[:5, :5] = 7
    elif how == 'rgb':
        mask = np.dstack([mask * 40] * 3)
    assert cv2.imwrite(path, mask)


@pytest.mark.parametrize('loader', ['train_dataloader', 'val_dataloader'])
@pytest.mark.parametrize('how,message', [
    ('size', r'mask is 60x72 \(HxW\) but its image .* is 64x64'),
    ('label', r'label value\(s\) \[7\] outside the 5 classes: allowed are '
     r'0..4 and the ignore index 255'),
    ('rgb', r'one channel of class indices, got shape \(64, 64, 3\)'),
], ids=['size', 'label', 'rgb'])
def test_bad_masks_are_clear_errors(demo_cfg, shapes, loader, how, message):
    split = 'train' if loader == 'train_dataloader' else 'val'
    mask = osp.join(shapes, 'ann_dir', split, '000000.png')
    _corrupt(mask, how)
    dataset = DATASETS.build(dict(demo_cfg[loader].dataset, data_root=shapes))
    with pytest.raises(SegMapError, match=message) as info:
        dataset[0]
    assert mask in str(info.value)  # names the file


def test_mmseg_alone_accepts_a_mask_of_the_wrong_size(demo_cfg, shapes):
    """Why CheckSegMap exists: without it, mmseg's training pipeline crops
    and packs a mismatched mask without complaint (misaligned labels)."""
    _corrupt(osp.join(shapes, 'ann_dir', 'train', '000000.png'), 'size')
    cfg = demo_cfg.train_dataloader.dataset
    pipeline = [t for t in cfg.pipeline if t['type'] != 'CheckSegMap']
    dataset = DATASETS.build(dict(cfg, data_root=shapes, pipeline=pipeline))
    np.random.seed(0)  # mmcv's random transforms draw from numpy
    shapes_seen = set()
    for _ in range(6):
        sample = dataset[0]  # no error
        assert tuple(sample['inputs'].shape[-2:]) == (128, 128)
        shapes_seen.add(tuple(sample['data_samples'].gt_sem_seg.data.shape))
    # Masks of other sizes than their crops (padded with 255 later) or
    # cropped from a different place: either way, silently misaligned.
    assert shapes_seen - {(1, 128, 128)}


def test_check_seg_map_unit():
    check = TRANSFORMS.build(dict(type='CheckSegMap', num_classes=3))
    assert isinstance(check, CheckSegMap)
    ok = dict(gt_seg_map=np.array([[0, 2], [255, 1]], np.uint8),
              ori_shape=(2, 2))
    assert check(ok) is ok
    no_gt = dict(img=np.zeros((2, 2, 3), np.uint8), ori_shape=(2, 2))
    assert check(no_gt) is no_gt  # inference: nothing to check
    wide = dict(gt_seg_map=np.array([[0, 3]], np.int32), ori_shape=(1, 2))
    with pytest.raises(SegMapError, match=r'\[3\] outside the 3 classes'):
        check(wide)
    with pytest.raises(ValueError, match='num_classes must be a positive int'):
        CheckSegMap(num_classes=0)
