"""Issue 26, item 3: the fine-tuning warm-up reaches the configured
learning rate on any dataset size (a one-iteration epoch kept mmengine's
LinearLR at its start factor, and the cosine that follows started from
there: peak 1e-3 instead of 0.01), and a dataset whose class count differs
from the model's ``num_classes`` is refused in one line naming both."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401  (registers LinearWarmupLR)
from mmlcnetv2.apis import load_config
from mmlcnetv2.cli.checks import check_num_classes
from mmlcnetv2.errors import UserInputError
from test_train_helpers import ROOT
from mmlcnetv2.commands import train as train_tool

FINETUNE = osp.join(ROOT, 'configs', 'cls',
                    'pplcnetv2-base_finetune_custom.py')
DIGITS = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-small_digits.py')
SHAPES_DET = osp.join(ROOT, 'configs', 'det',
                      'retinanet_lcnetv2-small_shapes-demo.py')
SHAPES_SEG = osp.join(ROOT, 'configs', 'seg',
                      'lraspp_lcnetv2-small_shapes-demo.py')


def _lrs(config: str, epoch_length: int, iters: int) -> list:
    """The lr of each iteration under ``config``'s ``param_scheduler``,
    built as mmengine's Runner builds it (``build_iter_from_epoch`` for
    ``convert_to_iter_based``) and stepped after each iteration."""
    from mmengine.registry import PARAM_SCHEDULERS
    cfg = load_config(config)
    lr = cfg.optim_wrapper.optimizer.lr
    optim = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedulers = []
    for s in cfg.param_scheduler:
        s = dict(s)
        cls = PARAM_SCHEDULERS.get(s.pop('type'))
        if s.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(
                optim, **s, epoch_length=epoch_length))
        else:
            schedulers.append(cls(optim, **s))
    lrs = []
    for _ in range(iters):
        lrs.append(optim.param_groups[0]['lr'])
        optim.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.parametrize('config', [FINETUNE, DIGITS])
@pytest.mark.parametrize('epoch_length', [1, 2, 7, 100])
def test_warmup_reaches_the_configured_lr(config, epoch_length):
    lr = load_config(config).optim_wrapper.optimizer.lr
    lrs = _lrs(config, epoch_length, 3 * epoch_length + 2)
    assert lrs[0] == pytest.approx(0.1 * lr)  # start_factor 0.1
    assert max(lrs) == pytest.approx(lr, rel=1e-6), lrs[:4]
    # the peak right after the warm-up epoch (2 iterations at least)
    assert lrs[max(epoch_length, 1)] == pytest.approx(lr, rel=1e-6)


def _folder(root, classes, per_class=1):
    for split in ('train', 'val'):
        for c in classes:
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(per_class):
                img = np.random.default_rng(i).integers(0, 255, (48, 48, 3))
                cv2.imwrite(str(folder / f'{i}.png'), img.astype(np.uint8))


@pytest.mark.slow  # a 3-iteration Runner training: ~20-70 s on 2 cores
def test_tiny_folder_trains_at_the_readme_lr(tmp_path):
    """README: "lr 0.01 for a batch of 32, 1 warm-up epoch, cosine". A
    10-image folder is one iteration per epoch; the run's logged lr
    reaches 0.01."""
    _folder(tmp_path / 'data', [str(i) for i in range(10)])
    work = str(tmp_path / 'work')
    data = str(tmp_path / 'data')
    assert train_tool.main([
        FINETUNE, '--work-dir', work, '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'model.backbone.init_cfg=None', 'model.backbone.arch=small',
        'model.head.in_channels=768', 'train_cfg.max_epochs=3',
        'train_cfg.val_interval=10', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', 'default_hooks.logger.interval=1',
        'train_dataloader.dataset.pipeline.1.scale=32',
        'default_hooks.checkpoint.save_best=None',
        'default_hooks.checkpoint.interval=10']) == 0
    scalars = [osp.join(d, f) for d, _, fs in os.walk(work) for f in fs
               if f == 'scalars.json']
    lrs = [json.loads(line)['lr'] for line in open(scalars[0])
           if '"lr"' in line]
    assert len(lrs) == 3, lrs
    assert lrs[0] == pytest.approx(1e-3) and max(lrs) == pytest.approx(0.01)


def test_class_folders_against_num_classes_one_line(capsys, tmp_path):
    """A 2-class folder with the README's num_classes = 5."""
    _folder(tmp_path / 'data', ['cat', 'dog'])
    work = tmp_path / 'work'
    data = str(tmp_path / 'data')
    assert train_tool.main([
        FINETUNE, '--work-dir', str(work), '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'model.head.num_classes=5']) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err, err
    assert 'has 2 classes' in err and 'cat, dog' in err
    assert 'model.head.num_classes is 5' in err
    assert not osp.exists(work)


@pytest.mark.parametrize('config,key,head', [
    (SHAPES_DET, 'model.bbox_head.num_classes', 'model.bbox_head'),
    (SHAPES_SEG, 'model.decode_head.num_classes', 'model.decode_head'),
])
def test_metainfo_classes_against_num_classes(config, key, head):
    cfg = load_config(config, {key: 7})
    with pytest.raises(UserInputError) as e:
        check_num_classes(cfg, cfg.train_dataloader.dataset, 'train')
    assert f'{head}.num_classes is 7' in str(e.value)
    assert 'classes (metainfo.classes)' in str(e.value)
    check_num_classes(load_config(config), load_config(
        config).train_dataloader.dataset, 'train')  # as shipped: agrees
