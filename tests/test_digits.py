"""The digits demo: make_digits writes a class-per-folder dataset of real
scans, and the digits config trains on it with progress/ETA in the log and a
training-curve picture (a few iterations; the full run is in the README)."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from test_train_helpers import ROOT
from mmlcnetv2.commands import train as train_tool
from mmlcnetv2.datasets.generate.digits import main as make_digits_main
from mmlcnetv2.datasets.generate.digits import make_digits, split_indices

DIGITS_CFG = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-small_digits.py')


def test_split_is_fixed_and_stratified():
    labels = np.repeat(np.arange(10), 20)
    a, b = split_indices(labels, 0.2, 0), split_indices(labels, 0.2, 0)
    assert (a == b).all()
    assert [int(a[labels == c].sum()) for c in range(10)] == [4] * 10
    assert not (a == split_indices(labels, 0.2, 1)).all()


def test_images_and_refusals(tmp_path, capsys):
    out = str(tmp_path / 'digits')
    make_digits(out, size=64, limit=20)
    files = [osp.join(d, f) for d, _, fs in os.walk(out) for f in fs
             if f != 'meta.json']
    assert len(files) == 20
    img = np.asarray(Image.open(files[0]))
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert (img[..., 0] == img[..., 1]).all() and img.max() > 128
    # no overwrite without --force, bad sizes named
    assert make_digits_main(['--out', out, '--limit', '5']) == 2
    assert 'exists' in capsys.readouterr().err
    assert make_digits_main(['--out', str(tmp_path / 'x'), '--size',
                             '4']) == 2
    assert '--size 4' in capsys.readouterr().err
    assert not osp.exists(tmp_path / 'x')


@pytest.mark.slow
def test_digits_config_trains(tmp_path):
    data = str(tmp_path / 'digits')
    make_digits(data, size=64, val_fraction=0.25, limit=40)
    work = str(tmp_path / 'work')
    assert train_tool.main([
        DIGITS_CFG, '--work-dir', work, '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
        'default_hooks.logger.interval=1'
    ]) == 0
    logs = [osp.join(d, f) for d, _, fs in os.walk(work) for f in fs
            if f.endswith('.log')]
    log = open(logs[0]).read()
    assert 'eta:' in log and 'Epoch(train) [1][' in log
    assert 'accuracy/top1' in log
    curves = [osp.join(d, f) for d, _, fs in os.walk(work) for f in fs
              if f == 'training_curve.png']
    assert curves and Image.open(curves[0]).size[0] > 100
