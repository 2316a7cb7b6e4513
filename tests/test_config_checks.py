"""Config errors are caught before the Runner starts (issue 12, item 7):
bad backbone values, misspelt arguments under typed dicts and broken
annotation files give one line naming the value, exit status 2, and leave no
work-dir behind; every config of the project passes the same checks."""
import glob
import os
import os.path as osp

import pytest

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import load_config
from mmlcnetv2.cli.checks import check_constructor_args
from mmlcnetv2.errors import UserInputError
from test_train_helpers import ROOT
from mmlcnetv2.commands import test as test_tool
from mmlcnetv2.commands import train as train_tool

CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
DIGITS = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-small_digits.py')
# Typed train_cfg and val_evaluator (mmdet's CocoMetric), PPLCNetV2 backbone.
SHAPES_DET = osp.join(ROOT, 'configs', 'det',
                      'retinanet_lcnetv2-small_shapes-demo.py')


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('config', CONFIGS)
def test_every_config_passes(config, training):
    check_constructor_args(load_config(osp.join(ROOT, config)), training)


def _refused(tool, argv, capsys, work_dir) -> str:
    """The tool exits 2 with one line and writes no work-dir."""
    assert tool.main(argv + ['--work-dir', str(work_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err, err
    assert not osp.exists(work_dir)
    return err


@pytest.mark.parametrize('config,option,expected', [
    (DIGITS, 'model.backbone.arch=bse',
     ["Unknown arch 'bse'", "'base', 'large', 'small'", 'model.backbone']),
    (DIGITS, 'model.backbone.out_indices=(4,)',
     ['entry 4 is out of range', '0..3']),
    (SHAPES_DET, 'model.backbone.frozen_stages=7',
     ['frozen_stages', '-1..4', 'got 7']),
    (DIGITS, 'model.backbone.norm_eval=maybe',
     ["norm_eval must be True or False, got 'maybe'"]),
    (DIGITS, 'model.bakbone.arch=small',
     ['model.bakbone', "did you mean 'backbone'", 'ImageClassifier']),
    (SHAPES_DET, 'train_cfg.max_epoch=3',
     ['train_cfg.max_epoch', "did you mean 'max_epochs'",
      'EpochBasedTrainLoop']),
    (SHAPES_DET, 'val_evaluator.metrc=bbox',
     ['val_evaluator.metrc', "did you mean 'metric'", 'CocoMetric']),
    (SHAPES_DET, 'model.bbox_head.loss_cls.gama=2.0',
     ['model.bbox_head.loss_cls.gama', "did you mean 'gamma'", 'FocalLoss']),
])
def test_train_refuses_bad_config_values(capsys, tmp_path, config, option,
                                         expected):
    err = _refused(train_tool, [config, '--cfg-options', option], capsys,
                   tmp_path / 'work')
    for text in expected:
        assert text in err, err


def test_test_tool_refuses_bad_backbone(capsys, tmp_path):
    ckpt = tmp_path / 'some.pth'
    ckpt.write_bytes(b'never read')
    err = _refused(test_tool, [DIGITS, str(ckpt), '--cfg-options',
                               'model.backbone.arch=bse'], capsys,
                   tmp_path / 'work')
    assert "Unknown arch 'bse'" in err


def test_broken_annotation_json_names_the_file(capsys, tmp_path):
    root = tmp_path / 'shapes'
    for split in ('train', 'val'):
        (root / split).mkdir(parents=True)
        (root / split / 'a.png').write_bytes(b'')
    (root / 'annotations').mkdir()
    (root / 'annotations' / 'instances_val.json').write_text('{}')
    bad = root / 'annotations' / 'instances_train.json'
    bad.write_text('{"images": [1, 2,]}')
    err = _refused(train_tool, [
        SHAPES_DET, '--cfg-options',
        f'train_dataloader.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={root}/annotations/instances_val.json'
    ], capsys, tmp_path / 'work')
    assert str(bad) in err and 'not valid JSON' in err and 'line 1' in err


def test_unknown_arguments_are_reported_not_guessed():
    """A class whose **kwargs cannot be followed is not judged."""
    from mmlcnetv2.cli.checks import accepted_args

    class Takes:
        def __init__(self, a, *, b=1):
            pass

    class PassesOn(Takes):
        def __init__(self, c, **kwargs):
            super().__init__(**kwargs)

    class Swallows:
        def __init__(self, **kwargs):
            self.options = kwargs

    class NoInit:
        pass

    assert accepted_args(Takes) == {'a', 'b'}
    assert accepted_args(PassesOn) == {'a', 'b', 'c'}
    assert accepted_args(Swallows) is None
    assert accepted_args(NoInit) == set()
    with pytest.raises(UserInputError, match="did you mean 'a'"):
        from mmlcnetv2.cli.checks import check_args
        check_args({'type': 'Takes', 'aa': 1}, Takes, 'x')


def test_arguments_passed_past_the_next_base_are_accepted():
    """mmdet's VFNetHead(ATSSHead, FCOSHead) calls
    ``super(FCOSHead, self).__init__(**kwargs)``: ``strides`` reaches
    AnchorFreeHead past ATSSHead, whose ``__init__`` has no such argument.
    The upstream VFNet config's head was refused (``VFNetHead has no
    argument 'strides'``) once the check ran in deploy.py too."""
    from mmdet.models.dense_heads import VFNetHead

    from mmlcnetv2.cli.checks import accepted_args
    assert {'strides', 'use_atss', 'pred_kernel_size'} <= accepted_args(
        VFNetHead)
