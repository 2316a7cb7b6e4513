"""Every bad input is one line naming the value and what is allowed, exit
status 2, no traceback and nothing written (issue 19, item 3).

One table: each case runs a real tool's ``main(argv)`` on the tiny configs
of :mod:`helpers` (PP-LCNetV2 at scale 0.25) in an empty folder, and
checks the single stderr line for the words that name the problem, and
that neither that folder (work dirs, outputs) nor the shared inputs
changed.
"""
import json
import math
import os
import os.path as osp
import shutil
from typing import Callable, Dict, List, NamedTuple, Optional

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import build_model, load_config, register_scope
from helpers import (CLASSIFIER, RETINANET, SEGMENTOR, full_disk,  # noqa: F401
                     one_thread, snapshot, tiny_runner_cfg)
from mmlcnetv2.commands import convert as convert_tool
from mmlcnetv2.commands import deploy as deploy_tool
from mmlcnetv2.commands import deploy_test as deploy_test_tool
from mmlcnetv2.commands import infer as infer_tool
from mmlcnetv2.commands import reparameterize as reparameterize_tool
from mmlcnetv2.commands import test as test_tool
from mmlcnetv2.commands import train as train_tool

pytest.importorskip('openvino')


def _save_checkpoint(config: str, path: str) -> None:
    cfg = load_config(config)
    register_scope(cfg)
    torch.manual_seed(0)
    torch.save(dict(state_dict=build_model(cfg).state_dict()), path)


@pytest.fixture(scope='module')
def ws(tmp_path_factory) -> Dict[str, str]:
    """The inputs every case reads: configs, checkpoints, bad files, two
    exports and an image."""
    root = tmp_path_factory.mktemp('inputs')
    paths = {}

    def write(name: str, data) -> str:
        path = str(root / name)
        mode = 'wb' if isinstance(data, bytes) else 'w'
        with open(path, mode) as f:
            f.write(data)
        paths[name] = path
        return path

    write('cls.py', CLASSIFIER.replace('{root}', str(root)).replace(
        '{classes}', repr(('a', 'b', 'c'))))
    write('det.py', RETINANET % (20, 64, 64))
    write('seg.py', SEGMENTOR)
    # A Runner config on in-memory data (helpers.RandomImages).
    train_cfg = tiny_runner_cfg(str(root / 'unused'), max_iters=1)
    train_cfg['custom_imports'] = dict(imports=['mmlcnetv2', 'helpers'])
    Config(train_cfg).dump(str(root / 'train.py'))
    paths['train.py'] = str(root / 'train.py')
    write('syntax.py', "model = dict(type='ImageClassifier'\nx = 1\n")
    for name in ('cls', 'det', 'seg'):
        paths[f'{name}.pth'] = str(root / f'{name}.pth')
        _save_checkpoint(paths[f'{name}.py'], paths[f'{name}.pth'])
    with open(paths['cls.pth'], 'rb') as f:
        whole = f.read()
    write('empty.pth', b'')
    write('text.pth', 'these are my notes, not weights\n')
    write('truncated.pth', whole[:len(whole) // 2])
    os.mkdir(root / 'folder.pth')
    paths['folder.pth'] = str(root / 'folder.pth')
    paths['cls_ir'], paths['det_ir'] = str(root / 'cls_ir'), str(
        root / 'det_ir')
    assert deploy_tool.main([paths['cls.py'], paths['cls.pth'], '--out',
                             paths['cls_ir']]) == 0
    assert deploy_tool.main([paths['det.py'], paths['det.pth'], '--out',
                             paths['det_ir']]) == 0
    rng = np.random.default_rng(0)
    paths['image'] = str(root / 'photo.png')
    cv2.imwrite(paths['image'], rng.integers(0, 256, (70, 90, 3), np.uint8))
    paths['root'] = str(root)
    return paths


# ------------------------------------------------------ broken copies
def _ir_copy(ws, tmp, name: str) -> str:
    out = osp.join(tmp, 'ir')
    shutil.copytree(ws[name], out)
    return out


def _edit_meta(name: str, edit: Callable[[dict], None]):
    """A copy of export ``name`` whose deploy.json ``edit`` changed."""
    def prepare(ws, tmp) -> str:
        out = _ir_copy(ws, tmp, name)
        path = osp.join(out, 'deploy.json')
        with open(path) as f:
            meta = json.load(f)
        edit(meta)
        with open(path, 'w') as f:
            json.dump(meta, f)  # NaN is written as NaN, as JSON allows
        return out
    return prepare


def _cut_bin(ws, tmp) -> str:
    out = _ir_copy(ws, tmp, 'cls_ir')
    path = osp.join(out, 'model.bin')
    size = osp.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)
    return out


def _garbage_xml(ws, tmp) -> str:
    out = _ir_copy(ws, tmp, 'cls_ir')
    with open(osp.join(out, 'model.xml'), 'w') as f:
        f.write('not an IR at all\n')
    return out


def _set(**fields):
    return lambda meta: meta.update(fields)


def _set_in(*keys, value):
    """Set ``meta[k0][k1]...`` (ints index lists) to ``value``."""
    def edit(meta):
        node = meta
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return edit


def _nested_meta(name: str, depth: int = 200000):
    """A copy of export ``name`` whose deploy.json nests ``depth`` deep."""
    def prepare(ws, tmp) -> str:
        out = _ir_copy(ws, tmp, name)
        with open(osp.join(out, 'deploy.json'), 'w') as f:
            f.write('{"format_version": 2, "x": ' + '[' * depth +
                    ']' * depth + '}')
        return out
    return prepare


def _export_listing_a_folder(ws, tmp) -> str:
    """--out holding an export whose deploy.json lists its folder 'notes'
    among its files (a later export replaced it at the very end)."""
    out = osp.join(tmp, 'out')
    shutil.copytree(ws['cls_ir'], out)
    os.mkdir(osp.join(out, 'notes'))
    with open(osp.join(out, 'notes', 'mine.txt'), 'w') as f:
        f.write('my notes\n')
    path = osp.join(out, 'deploy.json')
    with open(path) as f:
        meta = json.load(f)
    meta['files'].append('notes')
    with open(path, 'w') as f:
        json.dump(meta, f)
    return out


# --------------------------------------------------------------- cases
class Case(NamedTuple):
    tool: object
    argv: Callable[[dict, str, Optional[str]], List[str]]
    words: List[str]
    prepare: Optional[Callable[[dict, str], str]] = None
    # Words the line must not have (the misleading messages of before).
    not_words: List[str] = []


def _deploy(config: str, checkpoint: str, *extra: str):
    return lambda ws, tmp, _: [ws[config], ws[checkpoint], '--out',
                               osp.join(tmp, 'out'), *extra]


def _reparameterize(config: str, checkpoint: str):
    return lambda ws, tmp, _: [ws[config], ws[checkpoint],
                               osp.join(tmp, 'fused.pth')]


def _test(checkpoint: str):
    return lambda ws, tmp, _: [ws['train.py'], ws[checkpoint], '--work-dir',
                               osp.join(tmp, 'work')]


def _train(*options: str, config: str = 'train.py', resume: str = None):
    return lambda ws, tmp, _: [ws[config], '--work-dir',
                               osp.join(tmp, 'work'), *options] + (
        ['--resume', ws[resume]] if resume else [])


def _runner_value(option: str, got: str, allowed: str) -> Case:
    """``tools/train.py --cfg-options KEY=VALUE``: refused by name."""
    return Case(train_tool, _train('--cfg-options', option),
                [option.split('=')[0] + ': must be', f'got {got}', allowed])


def _infer(ws, tmp, prepared):
    return [prepared, ws['image']]


CASES: Dict[str, Case] = {
    # Checkpoints: one reader names what is wrong with the file.
    'deploy empty pth': Case(
        deploy_tool, _deploy('cls.py', 'empty.pth'),
        ['empty.pth', 'is empty (0 bytes)']),
    'reparameterize empty pth': Case(
        reparameterize_tool, _reparameterize('cls.py', 'empty.pth'),
        ['empty.pth', 'is empty (0 bytes)']),
    'deploy text file named pth': Case(
        deploy_tool, _deploy('cls.py', 'text.pth'),
        ['text.pth', 'is not a torch checkpoint', "b'thes'"],
        not_words=['safe loading', 'code or objects']),
    'deploy truncated pth': Case(
        deploy_tool, _deploy('cls.py', 'truncated.pth'),
        ['truncated.pth', 'cannot be read as a torch checkpoint',
         'truncated or damaged'],
        not_words=['does not fit', 'config']),
    'reparameterize truncated pth': Case(
        reparameterize_tool, _reparameterize('cls.py', 'truncated.pth'),
        ['truncated.pth', 'truncated or damaged'], not_words=['config']),
    'deploy folder as checkpoint': Case(
        deploy_tool, _deploy('cls.py', 'folder.pth'),
        ['folder.pth', 'is a folder'], not_words=['not found']),
    'test folder as checkpoint': Case(
        test_tool, _test('folder.pth'), ['folder.pth', 'is a folder'],
        not_words=['not found']),
    'test empty checkpoint': Case(
        test_tool, _test('empty.pth'), ['empty.pth', 'is empty (0 bytes)']),
    'train resume from a folder': Case(
        train_tool, _train(resume='folder.pth'),
        ['--resume', 'folder.pth', 'is a folder']),
    'train resume from a truncated checkpoint': Case(
        train_tool, _train(resume='truncated.pth'),
        ['--resume', 'truncated.pth', 'truncated or damaged']),
    # Config files.
    'deploy config with a syntax error': Case(
        deploy_tool, _deploy('syntax.py', 'cls.pth'),
        ['syntax.py', 'is not valid Python', 'line 1', 'never closed']),
    'train config with a syntax error': Case(
        train_tool, _train(config='syntax.py'),
        ['syntax.py', 'is not valid Python', 'line 1']),
    'deploy pth given as config': Case(
        deploy_tool, _deploy('cls.pth', 'cls.pth'),
        ['cls.pth', 'is not a config file', '.py, .json, .yaml, .yml']),
    'reparameterize pth given as config': Case(
        reparameterize_tool, _reparameterize('cls.pth', 'cls.pth'),
        ['cls.pth', 'is not a config file']),
    # Runner values, before the work dir exists.
    'train lr abc': _runner_value('optim_wrapper.optimizer.lr=abc',
                                  "'abc'", 'a finite number >= 0'),
    'train lr nan': _runner_value('optim_wrapper.optimizer.lr=nan', 'nan',
                                  'a finite number >= 0'),
    'train batch size 0': _runner_value('train_dataloader.batch_size=0',
                                        '0', 'an integer >= 1'),
    'train max_iters 0': _runner_value('train_cfg.max_iters=0', '0',
                                       'an integer >= 1'),
    # Output file names.
    'convert to a folder name': Case(
        convert_tool, lambda ws, tmp, _: [
            ws['cls.pth'], osp.join(tmp, 'newdir') + os.sep, '--arch',
            'small'],
        ["newdir/'", 'names a directory', "newdir/pplcnetv2.pth'"]),
    # Exports.
    'infer truncated model.bin': Case(
        infer_tool, _infer, ['model.xml', 'damaged or truncated',
                             'Incorrect weights in bin file'],
        prepare=_cut_bin),
    'infer garbage model.xml': Case(
        infer_tool, _infer, ['model.xml', 'damaged or truncated',
                             'not an IR'], prepare=_garbage_xml),
    'deploy_test without test_evaluator': Case(
        deploy_test_tool, lambda ws, tmp, _: [ws['cls.py'], ws['cls_ir']],
        ['no test_evaluator']),
    # deploy.json fields, by type and range.
    'score_threshold high': Case(
        infer_tool, _infer, ["'score_threshold' must be a number in [0, 1]",
                             "got 'high'"],
        prepare=_edit_meta('det_ir', _set(score_threshold='high'))),
    'score_threshold nan': Case(
        infer_tool, _infer, ["'score_threshold' must be a number in [0, 1]",
                             'got nan'],
        prepare=_edit_meta('det_ir', _set(score_threshold=math.nan))),
    'max_per_img 0': Case(
        infer_tool, _infer, ["'max_per_img' must be an integer >= 1",
                             'got 0'],
        prepare=_edit_meta('det_ir', _set(max_per_img=0))),
    'detector with 5 class names for 2': Case(
        infer_tool, _infer, ["'classes' has 5 names", 'model.xml has 2'],
        prepare=_edit_meta('det_ir', _set(classes=list('abcde')))),
    'task a list': Case(
        infer_tool, _infer,
        ["'task' must be one of", "got ['classification']"],
        prepare=_edit_meta('cls_ir', _set(task=['classification']))),
    'infer deploy.json nested 200000 deep': Case(
        infer_tool, _infer, ['deploy.json', 'nested too deep'],
        prepare=_nested_meta('cls_ir')),
    'deploy into an export whose deploy.json nests 200000 deep': Case(
        deploy_tool, _deploy('cls.py', 'cls.pth'),
        [osp.join('out', 'deploy.json'), 'nested too deep'],
        prepare=lambda ws, tmp: shutil.copytree(
            _nested_meta('cls_ir')(ws, tmp), osp.join(tmp, 'out'))),
    'export_size 100000x100000': Case(
        infer_tool, _infer, ["'input.export_size' must be a list of two "
                             'integers in [1, 8192]', 'got [100000, 100000]'],
        prepare=_edit_meta('cls_ir', _set_in('input', 'export_size',
                                             value=[100000, 100000]))),
    'resize scale 200000': Case(
        infer_tool, _infer, ["'preprocess.steps[0].scale' must be an integer "
                             'in [1, 8192]', 'got 200000'],
        prepare=_edit_meta('cls_ir', _set_in('preprocess', 'steps', 0,
                                             'scale', value=200000))),
    'deploy over an export listing a folder': Case(
        deploy_tool, _deploy('cls.py', 'cls.pth'),
        ["'files' lists 'notes', which is a folder", 'nothing was written'],
        prepare=_export_listing_a_folder),
    # --cfg-options that would export a deploy.json infer.py refuses.
    'export of a negative resize': Case(
        deploy_tool, _deploy(
            'cls.py', 'cls.pth', '--cfg-options',
            'test_dataloader.dataset.pipeline.1.scale=-5'),
        ['--cfg-options', "'preprocess.steps[0].scale' must be an integer "
         'in [1, 8192]', 'got -5', 'nothing was written']),
    # Backbone values: the check train.py runs (one line), in deploy.py.
    **{f'deploy {option}': Case(
        deploy_tool, _deploy('cls.py', 'cls.pth', '--cfg-options', option),
        words) for option, words in (
            ('model.backbone.arch=None',
             ['model.backbone', 'arch must be a str or a dict', 'NoneType']),
            ('model.backbone.out_indices=[]',
             ['model.backbone', 'out_indices']),
            ('model.backbone.scale=-1',
             ['model.backbone.scale', "PPLCNetV2 has no argument 'scale'"]))},
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_bad_input_is_one_line_exit_2_nothing_written(ws, tmp_path,
                                                      monkeypatch, capsys,
                                                      name):
    case = CASES[name]
    work = tmp_path / 'cwd'  # default work dirs land here
    work.mkdir()
    monkeypatch.chdir(work)
    prepared = case.prepare(ws, str(tmp_path)) if case.prepare else None
    argv = case.argv(ws, str(tmp_path), prepared)
    inputs, before = snapshot(ws['root']), snapshot(str(tmp_path))
    listed = sorted(os.listdir(tmp_path))
    capsys.readouterr()
    assert case.tool.main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    for word in case.words:
        assert word in lines[0], (word, lines[0])
    for word in case.not_words:
        assert word not in lines[0], (word, lines[0])
    assert sorted(os.listdir(tmp_path)) == listed
    assert snapshot(str(tmp_path)) == before
    assert os.listdir(work) == []
    assert snapshot(ws['root']) == inputs


@pytest.mark.parametrize('option', ['model.backbone.arch=None',
                                    'model.backbone.out_indices=[]',
                                    'model.backbone.scale=-1'])
def test_config_values_one_check_in_deploy_and_train(ws, tmp_path, capsys,
                                                     option):
    """deploy.py gave a TypeError traceback where train.py gave one line:
    both now run the same check, so both print the same line."""
    deploy_argv = _deploy('cls.py', 'cls.pth', '--cfg-options', option)(
        ws, str(tmp_path), None)
    train_argv = _train('--cfg-options', option)(ws, str(tmp_path), None)
    capsys.readouterr()
    assert deploy_tool.main(deploy_argv) == 2
    deploy_err = capsys.readouterr().err.strip()
    assert train_tool.main(train_argv) == 2
    train_err = capsys.readouterr().err.strip()
    assert deploy_err == train_err and '\n' not in deploy_err, (deploy_err,
                                                                train_err)
    assert not osp.exists(osp.join(tmp_path, 'out'))
    assert not osp.exists(osp.join(tmp_path, 'work'))


def test_disk_full_deploy_names_the_output(ws, tmp_path, capsys):
    """OpenVINO said "basic_ios::clear: iostream error" (no path, no
    space): one line naming --out, and nothing left on the disk."""
    with full_disk(str(tmp_path / 'disk')) as disk:
        out = osp.join(disk, 'export')
        capsys.readouterr()
        code = deploy_tool.main([ws['cls.py'], ws['cls.pth'], '--out', out])
        err = capsys.readouterr().err.strip()
        left = sorted(os.listdir(disk))
    assert code == 2, err
    assert '\n' not in err, err
    assert err.startswith(
        f'error: cannot write {out}: no space left on device'), err
    assert left == ['filler']


def test_persistent_workers_without_workers_is_fixed_with_a_line(
        ws, tmp_path):
    """``num_workers=0`` on a config with ``persistent_workers=True``:
    torch's DataLoader refused it in a 637-line traceback after the work
    dir was made; now it is turned off, with a line, and training runs."""
    config = tmp_path / 'persistent.py'
    config.write_text(f'_base_ = [{ws["train.py"]!r}]\n'
                      'train_dataloader = dict(num_workers=1, '
                      'persistent_workers=True)\n')
    work = tmp_path / 'work'
    # A subprocess: the Runner's logger would keep this test's stdout.
    from test_train_helpers import run_tool
    out = run_tool(['tools/train.py', str(config), '--work-dir', str(work),
                    '--cfg-options', 'train_dataloader.num_workers=0'])
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'note: train_dataloader.persistent_workers: set to False, as ' \
        'num_workers is 0' in out.stderr
    assert 'Traceback' not in out.stderr
