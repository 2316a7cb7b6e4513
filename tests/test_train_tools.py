"""tools/train.py and tools/test.py in-process: a real short run, --out,
--show-dir, --amp (bf16 autocast on CPU), and bad input caught early; and
every tool's exit status for bad input (2, one line naming the value)."""
import glob
import os
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config

import mmlcnetv2  # noqa: F401
from mmlcnetv2.cli.checks import check_dataset
from mmlcnetv2.cli.runner_setup import merge_cfg_options, setup_amp
from mmlcnetv2.errors import UserInputError
from test_train_helpers import ROOT, run_tool, write_tiny_config
from helpers import tiny_model_cfg
from mmlcnetv2.commands import test as test_tool
from mmlcnetv2.commands import train as train_tool
from mmlcnetv2.datasets.generate.digits import make_digits

DIGITS_CFG = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-small_digits.py')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny config trained for 2 iterations by tools/train.py."""
    d = tmp_path_factory.mktemp('tiny')
    cfg = write_tiny_config(str(d / 'tiny.py'), max_iters=2,
                            checkpoint_interval=2)
    assert train_tool.main([cfg, '--work-dir', str(d / 'work')]) == 0
    return cfg, str(d / 'work')


@pytest.fixture(scope='module')
def digits_dir(tmp_path_factory):
    """40 real digits as a class-per-folder dataset."""
    out = str(tmp_path_factory.mktemp('digits') / 'digits')
    counts = make_digits(out, size=64, val_fraction=0.25, limit=40)
    # stratified: each class's share rounded on its own
    assert counts['train'] + counts['val'] == 40 and 8 <= counts['val'] <= 12
    assert sorted(os.listdir(osp.join(out, 'val'))) == list('0123456789')
    return out


def test_train_writes_checkpoint_that_test_evaluates(tiny, tmp_path):
    cfg, work = tiny
    ckpt = osp.join(work, 'iter_2.pth')
    assert torch.load(ckpt)['meta']['iter'] == 2
    out, show = str(tmp_path / 'preds.pkl'), str(tmp_path / 'vis')
    # Its own experiment name: mmengine names a run's logger
    # <config>_<timestamp in seconds>, so a test run started in the same
    # second as the training above (this process) would reuse that logger
    # and write its log into the training work dir.
    assert test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path / 'w'),
                           '--out', out, '--show-dir', show,
                           '--cfg-options', 'experiment_name=evaluate']) == 0
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 6  # the test set
    assert {'pred_label', 'pred_score', 'gt_label'} <= preds[0].keys()
    assert [f for f in os.listdir(tmp_path) if f.startswith('.partial')] \
        == []
    # The log names the file the user asked for, not the temporary one.
    logs = [osp.join(d, f) for d, _, fs in os.walk(tmp_path / 'w')
            for f in fs if f.endswith('.log')]
    log = ''.join(open(p).read() for p in logs)
    assert f'Results have been saved to {out}.' in log
    assert '.partial' not in log and '.tmp' not in log
    pictures = [f for f in os.listdir(show) if f.endswith('.png')]
    assert pictures


def _run(tool, argv, capsys) -> str:
    assert tool.main(argv) == 2
    return capsys.readouterr().err


def test_missing_config(capsys, tmp_path):
    err = _run(train_tool, [str(tmp_path / 'nope.py')], capsys)
    assert 'Config file not found' in err and 'nope.py' in err


def test_unknown_cfg_options_key(capsys):
    err = _run(train_tool, [DIGITS_CFG, '--cfg-options',
                            'train_cfg.max_iter=3'], capsys)
    assert "'train_cfg.max_iter'" in err
    assert 'max_epochs' in err  # what the key could have been


@pytest.mark.parametrize('layout', ['missing', 'empty'])
def test_data_root_without_images(capsys, tmp_path, layout):
    root = tmp_path / 'data'
    if layout == 'empty':
        (root / 'train' / 'cat').mkdir(parents=True)
        (root / 'train' / 'cat' / 'notes.txt').write_text('no images')
    err = _run(train_tool, [DIGITS_CFG, '--cfg-options',
                            f'train_dataloader.dataset.data_root={root}'],
               capsys)
    assert str(root) in err
    assert ('does not exist' in err) == (layout == 'missing')
    assert ('no images' in err) == (layout == 'empty')


def _other_arch_checkpoint(tmp_path, prefix: str = '') -> str:
    """A checkpoint of the tiny model (scale 0.25), not of 'small'."""
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmpretrain')
    model = MODELS.build(tiny_model_cfg(num_classes=10))
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def test_load_from_checkpoint_of_other_arch(capsys, tmp_path, digits_dir):
    ckpt = _other_arch_checkpoint(tmp_path)
    err = _run(train_tool, [
        DIGITS_CFG, '--cfg-options', f'load_from={ckpt}',
        f'train_dataloader.dataset.data_root={digits_dir}',
        f'val_dataloader.dataset.data_root={digits_dir}'
    ], capsys)
    assert 'does not fit the model' in err and ckpt in err
    assert 'backbone.' in err  # names a mismatching tensor


def test_pretrained_backbone_of_other_arch(capsys, tmp_path, digits_dir):
    ckpt = _other_arch_checkpoint(tmp_path)
    err = _run(train_tool, [
        DIGITS_CFG, '--cfg-options',
        f'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={ckpt}',
        'model.backbone.init_cfg.prefix=backbone.',
        f'train_dataloader.dataset.data_root={digits_dir}',
        f'val_dataloader.dataset.data_root={digits_dir}'
    ], capsys)
    assert 'model.backbone.init_cfg (Pretrained)' in err
    assert 'does not fit' in err


def test_test_tool_bad_input(capsys, tiny, tmp_path):
    cfg, work = tiny
    err = _run(test_tool, [cfg, str(tmp_path / 'missing.pth')], capsys)
    assert 'missing.pth' in err
    err = _run(test_tool, [cfg, osp.join(work, 'iter_2.pth'), '--out',
                           str(tmp_path / 'preds.json')], capsys)
    assert '.pkl' in err
    # A backbone-only checkpoint would leave the head random: refused.
    state = torch.load(osp.join(work, 'iter_2.pth'))['state_dict']
    partial = str(tmp_path / 'backbone_only.pth')
    torch.save({'state_dict': {k: v for k, v in state.items()
                               if k.startswith('backbone.')}}, partial)
    err = _run(test_tool, [cfg, partial], capsys)
    assert 'lacks' in err and 'head.' in err


def test_check_dataset_follows_wrappers(tmp_path):
    cfg = dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=dict(
            type='CustomDataset', data_root=str(tmp_path / 'gone')))])
    with pytest.raises(UserInputError, match='gone'):
        check_dataset(cfg, 'train')


def test_cfg_options_accepts_new_constructor_args_and_runner_keys():
    cfg = Config(dict(model=dict(type='X', a=1), train_cfg=dict(by_epoch=1)))
    merge_cfg_options(cfg, {'model.b': 2, 'work_dir': 'w'})
    assert cfg.model.b == 2 and cfg.work_dir == 'w'
    with pytest.raises(KeyError, match='by_epoch'):
        merge_cfg_options(cfg, {'train_cfg.by_epochs': 2})


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU behaviour')
def test_amp_on_cpu_is_bf16_autocast(tmp_path):
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config(dict(optim_wrapper=dict(
        optimizer=dict(type='SGD', lr=0.01))))
    assert setup_amp(cfg) == 'BF16AutocastOptimWrapper'
    init_default_scope('mmpretrain')
    model = MODELS.build(tiny_model_cfg())
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    seen = []
    model.backbone.register_forward_hook(
        lambda m, i, o: seen.append(o[-1].dtype))
    x = torch.randn(2, 3, 32, 32)
    with wrapper.optim_context(model):
        model.extract_feat(x)
    model.extract_feat(x)
    assert seen == [torch.bfloat16, torch.float32]


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU behaviour')
def test_amp_training_runs(tmp_path):
    cfg = write_tiny_config(str(tmp_path / 'tiny.py'), max_iters=2,
                            checkpoint_interval=2)
    assert train_tool.main([cfg, '--amp', '--work-dir',
                            str(tmp_path / 'w')]) == 0
    ckpt = torch.load(str(tmp_path / 'w' / 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    weights = [v for v in ckpt['state_dict'].values()
               if v.is_floating_point()]
    assert weights and all(v.dtype == torch.float32 for v in weights)
    assert all(torch.isfinite(v).all() for v in weights)
    logs = [osp.join(d, f) for d, _, fs in os.walk(tmp_path / 'w')
            for f in fs if f.endswith('.log')]
    assert "type='BF16AutocastOptimWrapper'" in open(logs[0]).read()


CLS_CONFIG = 'configs/cls/pplcnetv2-small_8xb256_in1k.py'
# Each tool with one bad input: (arguments, text the error line must hold).
# {tmp} is a fresh folder, {ckpt} a checkpoint that fits no config.
BAD_INPUT = {
    'tools/benchmark.py': (['--models', 'no-such-model', '--no-progress'],
                           'no-such-model'),
    'tools/convert_paddle_weights.py': (
        ['{tmp}/missing.pdparams', '{tmp}/out.pth', '--arch', 'small'],
        'missing.pdparams'),
    'tools/convert_weights.py': (
        ['{tmp}/missing.safetensors', '{tmp}/out.pth', '--arch', 'small'],
        'missing.safetensors'),
    'tools/demo.py': (['--num-train', '0', '--data-root', '{tmp}/shapes',
                       '--work-dir', '{tmp}/work'], 'num_train'),
    'tools/deploy.py': ([CLS_CONFIG, '{ckpt}', '--out', '{tmp}/out'],
                        '{ckpt}'),
    'tools/deploy_test.py': (['{tmp}/nope.py', '{tmp}'], 'nope.py'),
    'tools/infer.py': (['{tmp}/no_export', '{tmp}/img.jpg'], 'no_export'),
    'tools/reparameterize.py': ([CLS_CONFIG, '{ckpt}', '{tmp}/out.pth'],
                                '{ckpt}'),
    'tools/test.py': (['{tmp}/nope.py', '{ckpt}'], 'nope.py'),
    'tools/train.py': (['{tmp}/nope.py'], 'nope.py'),
    'tools/analysis/get_flops.py': (['{tmp}/nope.py'], 'nope.py'),
    'benchmarks/experiments/compare_profiles.py': (
        ['no-such-a', 'no-such-b'], 'no-such-a'),
    'benchmarks/experiments/count_denormals.py': (['{tmp}/nope.py'],
                                                  'nope.py'),
    'benchmarks/experiments/measure_folder_throughput.py': (
        ['--model-dir', '{tmp}/no_export'], 'no_export'),
    'benchmarks/experiments/measure_image_input.py': (
        ['{tmp}/nope.py', '{ckpt}', '--work-dir', '{tmp}/work'], 'nope.py'),
    'benchmarks/experiments/measure_int8_drop.py': (
        ['{tmp}/nope.py', '{ckpt}', '--work-dir', '{tmp}/work'], 'nope.py'),
    'benchmarks/experiments/measure_ov_denormals.py': (['{tmp}/no_export'],
                                                       'no_export'),
    'benchmarks/experiments/measure_preprocess.py': (
        ['--checkpoint', '{tmp}/missing.pth'], 'missing.pth'),
    'benchmarks/experiments/measure_reduced_decode.py': (
        ['--checkpoint', '{tmp}/missing.pth'], 'missing.pth'),
    'benchmarks/experiments/measure_train_step.py': (['{tmp}/nope.py'],
                                                     'nope.py'),
    'tools/data/make_digits.py': (['--out', '{tmp}/digits',
                                   '--val-fraction', '1.5'],
                                  '--val-fraction 1.5'),
    'tools/data/make_shapes.py': (['--out', '{tmp}/shapes', '--num-train',
                                   '0'], 'num_train'),
    'tools/data/make_shapes_seg.py': (['--out', '{tmp}/shapes',
                                       '--num-train', '0'], 'num_train'),
}


def test_every_tool_has_a_bad_input_case():
    tools = sorted(
        osp.relpath(p, ROOT) for p in
        glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True)
        + glob.glob(osp.join(ROOT, 'benchmarks', 'experiments', '*.py'))
        if not osp.basename(p).startswith('_'))
    assert tools == sorted(BAD_INPUT)


@pytest.mark.parametrize('tool', sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line(tool, tmp_path):
    """The README's exit-status convention: 2 and one ``error:`` line that
    names the bad value, no traceback, nothing written."""
    ckpt = tmp_path / 'fits_nothing.pth'
    torch.save(dict(state_dict=dict(nothing=torch.zeros(1))), ckpt)
    argv, named = BAD_INPUT[tool]
    fill = dict(tmp=str(tmp_path), ckpt=str(ckpt))
    before = sorted(os.listdir(tmp_path))
    out = run_tool([tool] + [a.format(**fill) for a in argv])
    assert out.returncode == 2, out.stderr[-3000:]
    assert 'Traceback' not in out.stderr, out.stderr[-3000:]
    errors = [ln for ln in out.stderr.splitlines()
              if ln.startswith('error:')]
    assert len(errors) == 1, out.stderr[-3000:]
    assert named.format(**fill) in errors[0]
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
