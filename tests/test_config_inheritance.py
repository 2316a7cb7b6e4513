"""Configs of a downstream project inherit ours with
``_base_ = 'mmlcnetv2::cls/...'``: after ``import mmlcnetv2`` with
mmengine's Config, and through tools/train.py and tools/test.py running
against a non-editable install of the package."""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
from mmengine.config import Config

import mmlcnetv2  # noqa: F401  (registers the mmlcnetv2:: prefix)
from test_train_helpers import ROOT, tool_env
from mmlcnetv2.datasets.generate.digits import make_digits

DOWNSTREAM = textwrap.dedent('''\
    _base_ = 'mmlcnetv2::cls/pplcnetv2-base_8xb256_in1k.py'

    data_root = {data_root!r}
    num_classes = 10
    model = dict(head=dict(
        num_classes=num_classes, topk=(1, ),
        loss=dict(_delete_=True, type='CrossEntropyLoss')))
    data_preprocessor = dict(num_classes=num_classes)
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomResizedCrop', scale=64),
        dict(type='PackInputs'),
    ]
    train_dataloader = dict(
        batch_size=4, num_workers=0, persistent_workers=False,
        dataset=dict(_delete_=True, type='CustomDataset',
                     data_root=data_root, data_prefix='train',
                     pipeline=pipeline))
    test_dataloader = dict(
        batch_size=4, num_workers=0, persistent_workers=False,
        dataset=dict(_delete_=True, type='CustomDataset',
                     data_root=data_root, data_prefix='val',
                     pipeline=pipeline))
    test_evaluator = dict(type='Accuracy', topk=(1, ))
    val_dataloader = None
    val_cfg = None
    val_evaluator = None
    train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2)
    param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2),
                         logger=dict(interval=1))
''')


def _write(tmp_path, data_root='data/mine') -> str:
    path = tmp_path / 'my_project' / 'my_config.py'
    path.parent.mkdir()
    path.write_text(DOWNSTREAM.format(data_root=str(data_root)))
    return str(path)


def test_fromfile_after_import(tmp_path):
    cfg = Config.fromfile(_write(tmp_path))
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone.type == 'PPLCNetV2'
    assert cfg.model.head.num_classes == 10
    assert cfg.model.head.in_channels == 1024  # inherited
    assert cfg.default_scope == 'mmpretrain'
    # Built in the config's own scope, not in a 'mmlcnetv2' scope that does
    # not hold mmpretrain's ImageClassifier.
    assert '_scope_' not in cfg.model
    from mmlcnetv2.apis import build_model
    assert build_model(cfg).head.fc.out_features == 10


def test_unknown_config_names_the_available_ones(tmp_path):
    path = tmp_path / 'bad.py'
    path.write_text("_base_ = 'mmlcnetv2::cls/nope.py'\n")
    with pytest.raises(FileNotFoundError,
                       match='nope.py.*pplcnetv2-base_8xb256_in1k.py'):
        Config.fromfile(str(path))


RUN_TOOLS = textwrap.dedent('''\
    import runpy, sys
    import mmlcnetv2
    print('MMLCNETV2_FROM', mmlcnetv2.__file__, flush=True)
    assert not any(p.rstrip('/') == {root!r} for p in sys.path), sys.path
    cfg, work = sys.argv[1], sys.argv[2]
    train = runpy.run_path({train!r})
    assert train['main']([cfg, '--work-dir', work]) == 0
    test = runpy.run_path({test!r})
    assert test['main']([cfg, work + '/iter_2.pth', '--work-dir', work,
                         '--out', work + '/preds.pkl']) == 0
''')


@pytest.mark.slow
def test_train_and_test_with_non_editable_install(tmp_path):
    prefix = tmp_path / 'site'
    out = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
         '--no-build-isolation', '--target', str(prefix), ROOT],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    shipped = prefix / 'mmlcnetv2' / '.mim' / 'configs' / 'cls'
    assert (shipped / 'pplcnetv2-base_8xb256_in1k.py').is_file()
    assert not (shipped / 'pplcnetv2-base_8xb256_in1k.py').is_symlink()

    data = str(tmp_path / 'images')
    make_digits(data, size=64, val_fraction=0.25, limit=40)  # every class in val
    cfg = _write(tmp_path, data)
    work = str(tmp_path / 'work')
    env = tool_env()
    env['PYTHONPATH'] = str(prefix)  # neither the checkout nor tests/
    script = RUN_TOOLS.format(
        root=ROOT, train=osp.join(ROOT, 'tools', 'train.py'),
        test=osp.join(ROOT, 'tools', 'test.py'))
    out = subprocess.run([sys.executable, '-c', script, cfg, work],
                         cwd=str(tmp_path), env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'MMLCNETV2_FROM {prefix}' in out.stdout
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert osp.isfile(osp.join(work, 'preds.pkl'))
