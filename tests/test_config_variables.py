"""Issue 26, item 2: the variables a config exposes (``pretrained``,
``classes``, ``data_root``, ``num_classes``, ``max_epochs``, ...) work when
overridden with ``--cfg-options NAME=VALUE``: applied while the config is
read, so every setting computed from them follows; a key into a variable
(``metainfo.classes=...``) is refused in one line naming the keys to set."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest

from mmengine.config import Config

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import load_config
from mmlcnetv2.apis.config_vars import (is_variable, settings_using,
                                        variables_set)
from mmlcnetv2.errors import UserInputError
from test_train_helpers import ROOT
from mmlcnetv2.commands import train as train_tool

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                           recursive=True))


def _config(rel: str) -> str:
    return osp.join(ROOT, 'configs', rel)


@pytest.mark.parametrize('rel', [
    'det/retinanet_lcnetv2.py',
    'det/retinanet_lcnetv2_custom.py',  # inherits the use
    'det/picodet-style_lcnetv2-base_416_coco.py',  # assigns and uses again
    'seg/lraspp_lcnetv2-base_custom.py',
    'seg/fpn_lcnetv2-base_4xb4-80k_ade20k-512x512.py',
    'cls/pplcnetv2-base_finetune_custom.py',
])
def test_pretrained_reaches_init_cfg(rel):
    cfg = load_config(_config(rel), {'pretrained': '/my/weights.pth'})
    assert cfg.model.backbone.init_cfg.checkpoint == '/my/weights.pth'
    assert cfg.pretrained == '/my/weights.pth'


def test_classes_and_data_root_of_the_detection_custom_config():
    cfg = load_config(_config('det/retinanet_lcnetv2_custom.py'), {
        'classes': ('a', 'b', 'c'), 'data_root': '/data/mine/'})
    assert cfg.model.bbox_head.num_classes == 3
    for split in ('train', 'val', 'test'):
        ds = cfg[f'{split}_dataloader'].dataset
        assert tuple(ds.metainfo.classes) == ('a', 'b', 'c')
        assert ds.data_root == '/data/mine/'
    assert cfg.val_evaluator.ann_file == '/data/mine/annotations/val.json'


def test_classes_of_the_segmentation_custom_config():
    cfg = load_config(_config('seg/lraspp_lcnetv2-base_custom.py'), {
        'classes': ('bg', 'road', 'car'), 'data_root': '/seg'})
    assert cfg.model.decode_head.num_classes == 3
    ds = cfg.train_dataloader.dataset
    assert ds.data_root == '/seg' and len(ds.metainfo.classes) == 3
    checks = [t for t in ds.pipeline if t.type == 'CheckSegMap']
    assert checks and all(t.num_classes == 3 for t in checks)


def test_num_classes_and_max_epochs_of_the_digits_config():
    cfg = load_config(_config('cls/pplcnetv2-small_digits.py'), {
        'num_classes': 3, 'max_epochs': 4})
    assert cfg.model.head.num_classes == 3
    assert cfg.data_preprocessor.num_classes == 3
    assert cfg.train_cfg.max_epochs == 4
    assert cfg.param_scheduler[-1].end == 4
    assert cfg.param_scheduler[-1].T_max == 3


def _scalars(value) -> bool:
    return isinstance(value, str) or (
        isinstance(value, (tuple, list)) and len(value) > 0 and all(
            isinstance(v, (str, int, float)) for v in value))


def _changed(value):
    """Another value of the same kind."""
    if isinstance(value, str):
        return value + '_x'
    return type(value)(list(value) + [value[-1]])


def _at(node, path: str):
    for part in path.split('.'):
        node = node[int(part)] if isinstance(node, (list, tuple)) else \
            node[part]
    return node


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.relpath(p, ROOT) for p in CONFIGS])
def test_every_string_or_sequence_variable_follows(path):
    """For each config, all its top-level string variables and lists or
    tuples of strings and numbers overridden at once: where a setting held
    a variable's value, it holds that variable's override afterwards."""
    base = load_config(path)
    olds = {k: v for k, v in base._cfg_dict.items()
            if is_variable(k) and _scalars(v)}
    news = {k: _changed(v) for k, v in olds.items()}
    # What load_config does before its checks (which read the config once
    # more per variable).
    with variables_set(news):
        cfg = Config.fromfile(path)
    for name, old in olds.items():
        # Variables of equal values share their uses.
        allowed = [news[k] for k, v in olds.items() if v == old]
        for use in settings_using(base._cfg_dict, old, limit=100):
            assert _at(cfg._cfg_dict, use) in allowed, (name, use)


def test_a_key_into_a_variable_is_refused_naming_the_keys(capsys, tmp_path):
    work = tmp_path / 'work'
    assert train_tool.main([
        _config('det/retinanet_lcnetv2-small_shapes-demo.py'),
        '--work-dir', str(work), '--cfg-options',
        'metainfo.classes=[a,b]']) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and err.startswith('error: --cfg-options '
                                              'metainfo.classes: ')
    assert 'train_dataloader.dataset.metainfo.classes' in err
    assert not osp.exists(work)


@pytest.mark.parametrize('options', [
    {'pretrained': '/my/weights.pth'},  # init_cfg=None in the demo
    {'pretrained': '/my/weights.pth', 'data_root': '/data/shapes/'},
])
def test_a_variable_nothing_uses_is_refused(options):
    """The shapes demo trains from scratch (init_cfg=None): a pretrained
    override would be accepted and ignored."""
    with pytest.raises(UserInputError, match="nothing in this config uses "
                       "the variable 'pretrained'"):
        load_config(_config('det/retinanet_lcnetv2-small_shapes-demo.py'),
                    options)


def test_a_non_literal_value_is_refused():
    with pytest.raises(UserInputError, match='Python literal'):
        load_config(_config('cls/pplcnetv2-small_digits.py'),
                    {'data_root': object()})


def _folder(root, classes, per_class=1):
    for split in ('train', 'val'):
        for c in classes:
            folder = root / split / c
            folder.mkdir(parents=True)
            for i in range(per_class):
                cv2.imwrite(str(folder / f'{i}.png'),
                            np.full((32, 32, 3), 40 * i, np.uint8))


@pytest.mark.slow  # the tool reads the config 4 times, then builds the model
def test_train_applies_data_root_and_pretrained(capsys, tmp_path):
    """README's fine-tune config with the two variables on the command
    line: the run reads the given folder (no "data_root does not exist")
    and stops at the given weights, named (not the published URL)."""
    _folder(tmp_path / 'data', [str(i) for i in range(10)])
    missing = str(tmp_path / 'missing.pth')
    work = tmp_path / 'work'
    assert train_tool.main([
        _config('cls/pplcnetv2-base_finetune_custom.py'), '--work-dir',
        str(work), '--cfg-options', f'data_root={tmp_path / "data"}',
        f'pretrained={missing}']) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and missing in err, err
    assert 'bcebos' not in err


def test_a_runner_key_is_a_setting_not_a_variable():
    """``--cfg-options val_dataloader=None`` turns validation off and
    nothing else: mmdet's base says ``test_dataloader = val_dataloader``,
    and following that assignment (as for a variable) left the Runner a
    test_cfg without a test_dataloader."""
    cfg = load_config(_config('det/retinanet_lcnetv2.py'),
                      {'val_dataloader': None, 'val_evaluator': None,
                       'val_cfg': None})
    assert cfg.val_dataloader is None and cfg.val_evaluator is None
    assert cfg.test_dataloader is not None
    assert cfg.test_evaluator is not None
