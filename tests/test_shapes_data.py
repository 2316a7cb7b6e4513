"""The embedded shapes detection dataset (tools/data/make_shapes.py)."""
import json
import os
import os.path as osp

import pytest

from helpers import snapshot
from mmlcnetv2.datasets.generate import shapes as ms

TINY = dict(num_train=6, num_val=3, img_size=96, max_objects=4, seed=3)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shapes') / 'shapes')
    assert ms.make_shapes(root, **TINY) is True
    return root


def test_layout_and_valid_coco(tiny):
    for split, n in (('train', 6), ('val', 3)):
        with open(osp.join(tiny, 'annotations', f'instances_{split}.json')) as f:
            coco = json.load(f)
        assert [c['name'] for c in coco['categories']] == list(ms.CLASSES)
        assert len(coco['images']) == n
        for img in coco['images']:
            assert osp.isfile(osp.join(tiny, split, img['file_name']))
        assert coco['annotations'], 'a split without any object'
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            assert w > 0 and h > 0
            assert 0 <= x and 0 <= y and x + w <= 96 and y + h <= 96
            assert 1 <= ann['category_id'] <= len(ms.CLASSES)


def test_deterministic_and_kept_when_present(tiny, tmp_path):
    other = str(tmp_path / 'again')
    assert ms.make_shapes(other, **TINY) is True
    assert snapshot(other) == snapshot(tiny)
    # Same arguments: kept (the rerun of an interrupted demo skips it) ...
    assert ms.make_shapes(other, **TINY) is False
    # ... different ones (or --force): rewritten, different content.
    assert ms.make_shapes(other, **dict(TINY, seed=4)) is True
    assert snapshot(other) != snapshot(tiny)


def test_interrupted_run_leaves_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / 'shapes'
    real = ms.write_split

    def crash_on_val(root, split, *args):
        if split == 'val':
            raise KeyboardInterrupt
        real(root, split, *args)

    monkeypatch.setattr(ms, 'write_split', crash_on_val)
    with pytest.raises(KeyboardInterrupt):
        ms.make_shapes(str(out), **TINY)
    assert os.listdir(tmp_path) == [], 'temporary data left behind'
    monkeypatch.setattr(ms, 'write_split', real)
    assert ms.make_shapes(str(out), **TINY) is True
    assert osp.isfile(out / 'meta.json')


def test_mmdet_coco_dataset_reads_it(tiny):
    from mmdet.datasets import CocoDataset
    ds = CocoDataset(
        data_root=tiny,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=ms.CLASSES),
        filter_cfg=dict(filter_empty_gt=False),
        pipeline=[],
        test_mode=False)
    assert len(ds) == 6
    labels = {i['bbox_label'] for d in ds for i in d['instances']}
    assert labels <= set(range(len(ms.CLASSES)))


@pytest.mark.parametrize('arg', ['--num-train=0', '--img-size=32'])
def test_bad_arguments_are_named(arg, tmp_path, capsys):
    assert ms.main(['--out', str(tmp_path / 's'), arg]) == 2
    name = arg[2:].split('=')[0].replace('-', '_')
    assert name in capsys.readouterr().err
    assert not osp.exists(tmp_path / 's')
