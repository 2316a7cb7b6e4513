"""The custom-data config trains with mmengine's Runner; tools/test.py and
mmdet's DetInferencer use the checkpoint (tiny backbone, tiny images)."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

import mmlcnetv2  # noqa: F401
from mmlcnetv2.datasets.generate.shapes import make_shapes

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CUSTOM = osp.join(ROOT, 'configs', 'det', 'retinanet_lcnetv2_custom.py')


def custom_cfg(data_root: str, work_dir: str) -> Config:
    """The custom config as a user edits it (classes, paths), shrunk to a
    tiny backbone and 96-pixel images so it trains in seconds."""
    cfg = Config.fromfile(CUSTOM)
    classes = ('circle', 'square')  # triangle and star are not listed
    cfg.model.bbox_head.num_classes = len(classes)
    cfg.model.backbone.update(arch=dict(scale=0.25, depths=[1, 1, 1, 1]),
                              init_cfg=None, frozen_stages=-1,
                              norm_eval=False)
    cfg.model.neck.update(in_channels=[64, 128, 256], out_channels=32)
    cfg.model.bbox_head.update(in_channels=32, feat_channels=32,
                               stacked_convs=1)
    # 2 iterations learn nothing: keep every box so the metric has input.
    cfg.model.test_cfg.score_thr = 0.0
    for name, split in (('train_dataloader', 'train'),
                        ('val_dataloader', 'val'),
                        ('test_dataloader', 'val')):
        loader = cfg[name]
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        ds = loader.dataset
        ds.update(data_root=data_root, metainfo=dict(classes=classes),
                  ann_file=f'annotations/instances_{split}.json',
                  data_prefix=dict(img=f'{split}/'))
        for t in ds.pipeline:
            if t.type == 'Resize':
                t.scale = (96, 96)
    for name in ('val_evaluator', 'test_evaluator'):
        cfg[name].ann_file = osp.join(data_root,
                                      'annotations/instances_val.json')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2,
                                        by_epoch=False)
    cfg.default_hooks.logger.interval = 1
    cfg.log_processor = dict(by_epoch=False)
    cfg.work_dir = work_dir
    return cfg


@pytest.mark.slow
def test_custom_config_trains_tests_and_infers(tmp_path):
    from mmengine.runner import Runner
    data = str(tmp_path / 'shapes')
    make_shapes(data, num_train=4, num_val=2, img_size=96, max_objects=3)
    work = str(tmp_path / 'work')
    cfg = custom_cfg(data, work)
    runner = Runner.from_cfg(cfg)
    assert runner.train_dataloader.dataset.metainfo['classes'] == (
        'circle', 'square')
    runner.train()
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    cfg_file = str(tmp_path / 'custom_tiny.py')
    cfg.dump(cfg_file)

    # tools/test.py writes the metrics of the checkpoint.
    test_dir = str(tmp_path / 'test')
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'test.py'), cfg_file, ckpt,
         '--work-dir', test_dir],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'denormals: flushed to zero in every torch thread' in (
        proc.stdout + proc.stderr)
    found = []
    for path in glob.glob(osp.join(test_dir, '**', '*.json'),
                          recursive=True):
        with open(path) as f:
            text = f.read()
        if 'coco/bbox_mAP' in text:
            found.append(path)
    assert found, f'no metrics json under {test_dir}'

    # mmdet's inferencer takes our config and checkpoint as they are.
    from mmdet.apis import DetInferencer
    inferencer = DetInferencer(model=cfg_file, weights=ckpt, device='cpu',
                               show_progress=False)
    img = osp.join(data, 'val', '000000.jpg')
    out = inferencer(img, out_dir=str(tmp_path / 'infer'), no_save_vis=True,
                     pred_score_thr=0.0)
    pred = out['predictions'][0]
    assert len(pred['bboxes']) == len(pred['scores']) == len(pred['labels'])
    assert all(0 <= label < 2 for label in pred['labels'])
