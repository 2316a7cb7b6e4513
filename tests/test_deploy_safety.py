"""Export folders and deploy.json: nothing of the user's is deleted, folders
are readable by others, class names come from the dataset, a bad deploy.json
or a checkpoint carrying code is one named line (issue 12 items 1, 3, 5, 6,
8). A tiny PP-LCNetV2 with an ImageNet config (1000 classes, no data needed)
keeps it fast."""
import json
import os
import os.path as osp
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import build_model, load_config
from mmlcnetv2.deploy import OpenVINOInferencer, export
from mmlcnetv2.deploy.exporting import files_to_replace
from mmlcnetv2.deploy.manifest.build import class_names
from mmlcnetv2.deploy.model_api.rt_info import MODEL_API_FILES
from mmlcnetv2.deploy.manifest.schema import DeployFormatError, read_meta
from helpers import CLASSIFIER, RETINANET, snapshot  # noqa: E402

pytest.importorskip('openvino')
from mmlcnetv2.commands import deploy as deploy_tool  # noqa: E402
from mmlcnetv2.commands import infer as infer_tool  # noqa: E402
from mmlcnetv2.commands import reparameterize as reparameterize_tool  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LABEL = 670  # the checkpoint's fc bias makes every image this class
# helpers.CLASSIFIER as an ImageNet classifier without data.
CONFIG = """
_base_ = './tiny_classifier.py'
model = dict(head=dict(num_classes=1000, mid_channels=32))
# No data here: the class names come from the ImageNet class itself, and
# int8 calibration (which reads the train set) fails.
train_dataloader = dict(dataset=dict(
    _delete_=True, type='ImageNet', data_root='{root}/no-imagenet',
    split='train', pipeline={{_base_.test_pipeline}}))
test_dataloader = dict(dataset=dict(
    _delete_=True, type='ImageNet', data_root='{root}/no-imagenet',
    split='val', pipeline={{_base_.test_pipeline}}))
"""


def _write_config(folder, text: str, name: str) -> str:
    """Write ``text`` as ``folder/name`` beside the tiny bases it
    inherits; returns its path."""
    (folder / 'tiny_classifier.py').write_text(CLASSIFIER.replace(
        '{root}', str(folder)).replace('{classes}', repr(('a', 'b', 'c'))))
    (folder / 'tiny_retinanet.py').write_text(RETINANET % (20, 64, 64))
    path = folder / name
    path.write_text(text.replace('{root}', str(folder)))
    return str(path)


def _mode(path):
    return os.stat(path).st_mode & 0o777


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Config, checkpoint, one export (made under umask 022), an image."""
    root = tmp_path_factory.mktemp('safety')
    cfg_path = _write_config(root, CONFIG, 'imagenet_tiny.py')
    torch.manual_seed(0)
    model = build_model(load_config(str(cfg_path)))
    with torch.no_grad():
        model.head.fc.bias[LABEL] = 100.0
    ckpt = root / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    image = root / 'photo.png'
    rng = np.random.default_rng(0)
    cv2.imwrite(str(image), rng.integers(0, 256, (70, 90, 3), np.uint8))
    ir = root / 'ir'
    old = os.umask(0o022)
    try:
        export(str(cfg_path), str(ckpt), str(ir))
    finally:
        os.umask(old)
    return dict(root=root, config=str(cfg_path), checkpoint=str(ckpt),
                ir=str(ir), image=str(image))


def _deploy(tiny, out, *extra):
    return deploy_tool.main([tiny['config'], tiny['checkpoint'], '--out',
                             str(out), *extra])


def _one_line(err):
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------- 1: --out folders
def test_out_refuses_a_folder_that_is_not_an_export(tiny, tmp_path, capsys):
    out = tmp_path / 'mine'
    (out / 'vis').mkdir(parents=True)
    (out / 'notes.txt').write_text('my notes')
    (out / 'vis' / 'a.png').write_bytes(b'picture')
    sibling = tmp_path / 'mine.old'
    sibling.mkdir()
    (sibling / 'keep.txt').write_text('keep')
    before = snapshot(tmp_path)
    assert _deploy(tiny, out) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(out) in line and 'not an export of tools/deploy.py' in line
    assert 'deploy.json is missing' in line
    assert snapshot(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == ['mine', 'mine.old']


def test_out_refuses_a_file_and_a_foreign_deploy_json(tiny, tmp_path, capsys):
    a_file = tmp_path / 'file'
    a_file.write_text('x')
    assert _deploy(tiny, a_file) == 2
    assert 'is a file, not a folder' in _one_line(capsys.readouterr().err)
    assert a_file.read_text() == 'x'
    # A deploy.json that is not ours does not make a folder ours.
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'deploy.json').write_text('{"name": "something else"}')
    (other / 'model.xml').write_text('theirs')
    assert _deploy(tiny, other) == 2
    line = _one_line(capsys.readouterr().err)
    assert "'format_version'" in line and 'not an export' in line
    assert (other / 'model.xml').read_text() == 'theirs'


def test_replacing_an_export_keeps_other_files(tiny, tmp_path, capsys):
    out = tmp_path / 'ir'
    shutil.copytree(tiny['ir'], out)
    (out / 'vis').mkdir()
    (out / 'vis' / 'photo.png').write_bytes(b'drawn by infer.py')
    (out / 'README').write_text('my notes')
    sibling = tmp_path / 'ir.old'
    sibling.mkdir()
    (sibling / 'keep.txt').write_text('keep')
    old_xml = (out / 'model.xml').read_bytes()

    assert _deploy(tiny, out, '--onnx', '--precision', 'fp16') == 0
    meta = json.loads((out / 'deploy.json').read_text())
    assert meta['format'] == 'mmlcnetv2-deploy'
    assert meta['files'] == sorted(['deploy.json', 'model.bin', 'model.onnx',
                                    'model.xml', *MODEL_API_FILES])
    assert meta['precision'] == 'f16'  # the earlier spelling, written new
    assert (out / 'model.xml').read_bytes() != old_xml
    assert (out / 'vis' / 'photo.png').read_bytes() == b'drawn by infer.py'
    assert (out / 'README').read_text() == 'my notes'
    assert (sibling / 'keep.txt').read_text() == 'keep'
    assert sorted(os.listdir(tmp_path)) == ['ir', 'ir.old']
    # The next export without --onnx removes the stale model.onnx it owned.
    assert _deploy(tiny, out) == 0
    assert sorted(os.listdir(out)) == sorted([
        'README', 'deploy.json', 'model.bin', 'model.xml', 'vis',
        *MODEL_API_FILES])
    # A file of the user's under a name the export writes is not overwritten.
    (out / 'model.onnx').write_text('mine')
    capsys.readouterr()
    assert _deploy(tiny, out, '--onnx') == 2
    line = _one_line(capsys.readouterr().err)
    assert "'model.onnx'" in line and 'not one of the files' in line
    assert (out / 'model.onnx').read_text() == 'mine'


def test_failed_export_leaves_the_previous_one(tiny, tmp_path, capsys):
    out = tmp_path / 'ir'
    shutil.copytree(tiny['ir'], out)
    (out / 'vis').mkdir()
    (out / 'vis' / 'photo.png').write_bytes(b'drawn')
    before = snapshot(out)
    # int8 calibrates on the train set, which is missing: it fails after
    # the conversion, while the new files are being written.
    assert _deploy(tiny, out, '--precision', 'int8', '--calib', '2') != 0
    assert 'no-imagenet' in capsys.readouterr().err
    assert snapshot(out) == before
    assert sorted(os.listdir(out)) == sorted([
        'deploy.json', 'model.bin', 'model.xml', 'vis', *MODEL_API_FILES])
    assert os.listdir(tmp_path) == ['ir']
    OpenVINOInferencer(str(out))  # still a working export


@pytest.mark.parametrize('lost', ['model.bin', 'model.xml'])
def test_export_whose_file_went_missing_is_not_reported_written(
        tiny, tmp_path, capsys, monkeypatch, lost):
    """Another process removes a file just after the export moved it into
    place: deploy.py checks before it reports, and says so in one line."""
    import contextlib
    import importlib
    export_module = importlib.import_module(
        'mmlcnetv2.deploy.exporting.exporter')
    real = export_module.atomic_update

    @contextlib.contextmanager
    def then_removed(folder, *args, **kwargs):
        with real(folder, *args, **kwargs) as tmp:
            yield tmp
        os.remove(osp.join(folder, lost))  # what the other process does

    monkeypatch.setattr(export_module, 'atomic_update', then_removed)
    code = _deploy(tiny, tmp_path / 'ir')
    captured = capsys.readouterr()
    # (the conversion may log a torch warning first)
    errors = [ln for ln in captured.err.splitlines() if 'error' in ln]
    assert len(errors) == 1 and 'Traceback' not in captured.err, captured.err
    line = errors[0]
    assert code != 0 and 'wrote' not in captured.out, captured.out
    assert f"'{lost}' is missing" in line and 'incomplete' in line, line
    assert str(tmp_path / 'ir') in line


def test_version_1_export_is_read_and_replaced(tiny, tmp_path):
    out = tmp_path / 'v1'
    shutil.copytree(tiny['ir'], out)
    meta = json.loads((out / 'deploy.json').read_text())
    del meta['format'], meta['files']
    meta['format_version'] = 1
    (out / 'deploy.json').write_text(json.dumps(meta))
    (out / 'vis').mkdir()
    assert OpenVINOInferencer(str(out)).task == 'classification'
    # Version 1 listed no files: it owns what it could have written.
    assert files_to_replace(str(out), ['deploy.json', 'model.xml',
                                       'model.bin']) == [
        'deploy.json', 'model.xml', 'model.bin', 'model.onnx']


def test_float_export_before_the_uint8_form_still_runs(tiny, tmp_path):
    """An export written before the uint8 input form (float32 NCHW, no
    ``input.color_order`` / ``preprocess_in_graph``) loads, is fed the
    host-normalized tensor and answers as the default (uint8) export."""
    out = tmp_path / 'old'
    export(tiny['config'], tiny['checkpoint'], str(out), input_form='float')
    meta = json.loads((out / 'deploy.json').read_text())
    for key in ('color_order', 'preprocess_in_graph'):
        del meta['input'][key]
    (out / 'deploy.json').write_text(json.dumps(meta))
    old = OpenVINOInferencer(str(out), precision_hint='f32')
    assert old.preprocess(tiny['image'])['input'].dtype == np.float32
    new = OpenVINOInferencer(tiny['ir'], precision_hint='f32')
    assert new.preprocess(tiny['image'])['input'].dtype == np.uint8
    a, b = old(tiny['image'])['logits'], new(tiny['image'])['logits']
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_help_says_what_out_replaces(capsys):
    with pytest.raises(SystemExit):
        deploy_tool.parse_args(['--help'])
    text = capsys.readouterr().out
    assert 'replaces only the files its deploy.json lists' in text
    assert 'refused' in text


# -------------------------------------------------------------- 6: modes
def test_export_folder_and_files_are_readable_by_others(tiny, tmp_path):
    ir = tiny['ir']  # exported under umask 022
    assert _mode(ir) == 0o755
    for name in os.listdir(ir):
        assert _mode(osp.join(ir, name)) == 0o644, name
    # A stricter umask is respected as by mkdir/open.
    old = os.umask(0o027)
    try:
        export(tiny['config'], tiny['checkpoint'], str(tmp_path / 'ir'))
    finally:
        os.umask(old)
    assert _mode(tmp_path / 'ir') == 0o750
    assert {_mode(tmp_path / 'ir' / n) for n in os.listdir(tmp_path / 'ir')
            } == {0o640}


# --------------------------------------------------------- 3: class names
@pytest.mark.parametrize('config,module,dataset,count', [
    ('configs/cls/pplcnetv2-base_8xb256_in1k.py', 'mmpretrain.datasets',
     'ImageNet', 1000),
    ('configs/det/retinanet_lcnetv2.py', 'mmdet.datasets', 'CocoDataset',
     80),
    ('configs/seg/lraspp_lcnetv2-base_8xb4-160k_ade20k-512x512.py',
     'mmseg.datasets', 'ADE20KDataset', 150),
    ('configs/seg/lraspp_lcnetv2-base_4xb4-320k_cityscapes-512x1024.py',
     'mmseg.datasets', 'CityscapesDataset', 19),
])
def test_class_names_of_standard_datasets(config, module, dataset, count):
    import importlib
    cfg = load_config(osp.join(ROOT, config))
    assert cfg.test_dataloader.dataset.type == dataset
    want = importlib.import_module(module).__dict__[dataset].METAINFO[
        'classes']
    assert len(want) == count
    assert class_names(cfg, count) == [str(c) for c in want]


def test_infer_prints_imagenet_names(tiny, capsys):
    meta = read_meta(tiny['ir'])
    assert meta['classes'][LABEL] == 'motor scooter, scooter'
    assert infer_tool.main([tiny['ir'], tiny['image'], '--out-dir',
                            str(tiny['root'] / 'vis')]) == 0
    top1 = capsys.readouterr().out.strip().splitlines()[0]
    assert top1.split('\t')[0] == 'motor scooter, scooter'


# -------------------------------------------------- 5: deploy.json checks
def _broken_copy(tiny, tmp_path, edit):
    out = tmp_path / 'ir'
    shutil.copytree(tiny['ir'], out)
    meta = json.loads((out / 'deploy.json').read_text())
    text = edit(meta)
    (out / 'deploy.json').write_text(
        text if isinstance(text, str) else json.dumps(meta))
    return str(out)


def _drop(key):
    def edit(meta):
        del meta[key]
    return edit


BROKEN = {
    'empty': (lambda m: '{}', "'format_version' must be one of [1, 2]"),
    'no classes': (_drop('classes'), "'classes' must be a non-empty list"),
    'few classes': (lambda m: m.update(classes=m['classes'][:10]),
                    "'classes' has 10 names but model.xml has 1000"),
    'wrong task': (lambda m: m.update(task='detection', outputs=[
        'dets', 'labels']), "'task' 'detection' expects the outputs"),
    'outputs': (lambda m: m.update(task='segmentation'),
                "'outputs' must be ['seg'] or ['seg_logits'] for task "
                "'segmentation'; got ['logits']"),
    'not json': (lambda m: '{"task": "classification",',
                 'not valid JSON (Expecting'),
    'bad mean': (lambda m: m['preprocess'].update(mean='abc'),
                 "'preprocess.mean' must be a list of 3 numbers; got 'abc'"),
    'zero std': (lambda m: m['preprocess'].update(std=[1, 0, 1]),
                 "'preprocess.std' must be a list of 3 non-zero numbers"),
    'unknown step': (lambda m: m['preprocess']['steps'][1].update(
        op='rotate'), "'preprocess.steps[1].op' must be one of"),
    'step field': (lambda m: m['preprocess']['steps'][0].update(scale=-3),
                   "'preprocess.steps[0].scale' must be an integer in "
                   '[1, 8192]; got -3'),
    'no format': (_drop('format'), "'format' must be 'mmlcnetv2-deploy'"),
    'input dtype': (lambda m: m['input'].update(dtype='int16'),
                    "'input.dtype' must be 'float32' or 'uint8'; got "
                    "'int16'"),
    'input layout': (lambda m: m['input'].update(layout='NCHW'),
                     "'input.layout' must be 'NHWC' for a uint8 input"),
    'graph steps': (lambda m: m['input'].update(
        preprocess_in_graph=['center_crop']),
        "'input.preprocess_in_graph' must be a list of steps out of"),
    'graph steps order': (lambda m: m['input'].update(
        preprocess_in_graph=['normalize', 'to_float']),
        'in that order'),
    'export size': (lambda m: m['input'].pop('export_size'),
                    "'input.export_size' must be a list of two integers"),
}


@pytest.mark.parametrize('case', sorted(BROKEN))
def test_bad_deploy_json_is_named(tiny, tmp_path, case):
    edit, message = BROKEN[case]
    ir = _broken_copy(tiny, tmp_path, edit)
    with pytest.raises(DeployFormatError) as info:
        OpenVINOInferencer(ir)
    text = str(info.value)
    assert text.startswith(osp.join(ir, 'deploy.json') + ': '), text
    assert message in text
    assert '\n' not in text


@pytest.mark.parametrize('case', ['empty', 'bad mean'])
def test_infer_tool_exits_2_on_bad_deploy_json(tiny, tmp_path, capsys, case):
    ir = _broken_copy(tiny, tmp_path, BROKEN[case][0])
    assert infer_tool.main([ir, tiny['image']]) == 2
    line = _one_line(capsys.readouterr().err)
    assert osp.join(ir, 'deploy.json') in line
    assert BROKEN[case][1] in line
    assert not osp.exists(osp.join(ir, 'vis'))


# ------------------------------------------ 8: checkpoints carrying code
@pytest.fixture
def evil(tiny, tmp_path):
    state = torch.load(tiny['checkpoint'])['state_dict']
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=state, hook=os.getcwd), path)  # a global
    return str(path)


def _says_refused(text, path):
    assert f"checkpoint {path!r} contains code or objects that safe " \
        'loading does not allow (posix.getcwd)' in text
    assert 'unless you trust its source' in text
    assert 'weights_only' not in text and 'likely succeed' not in text


def test_deploy_refuses_code_in_one_line(tiny, evil, tmp_path, capsys):
    out = tmp_path / 'out2'
    assert deploy_tool.main([tiny['config'], evil, '--out', str(out)]) == 2
    _says_refused(_one_line(capsys.readouterr().err), evil)
    assert not out.exists()


def test_reparameterize_refuses_code_in_one_line(tiny, evil, tmp_path,
                                                 capsys):
    out = tmp_path / 'fused.pth'
    assert reparameterize_tool.main([tiny['config'], evil, str(out)]) == 2
    _says_refused(_one_line(capsys.readouterr().err), evil)
    assert not out.exists()


def test_train_test_checks_do_not_relay_the_hint(tiny, evil):
    from mmlcnetv2.cli.checks import check_checkpoints
    from mmlcnetv2.errors import UserInputError
    cfg = load_config(tiny['config'])
    cfg.load_from = evil
    with pytest.raises(UserInputError) as info:
        check_checkpoints(cfg, training=False)
    assert str(info.value).startswith('checkpoint: ')
    _says_refused(str(info.value), evil)


# ------------------------------------------ --nms: a detection option
def test_nms_host_on_a_classifier_or_segmentor_is_named(tiny, tmp_path,
                                                        capsys):
    from mmlcnetv2.apis import register_scope
    from helpers import SEGMENTOR
    seg_config = tmp_path / 'seg.py'
    seg_config.write_text(SEGMENTOR)
    cfg = load_config(str(seg_config))
    register_scope(cfg)
    torch.manual_seed(0)
    torch.save(dict(state_dict=build_model(cfg).state_dict()),
               tmp_path / 'seg.pth')
    for config, ckpt, task, model in (
            (tiny['config'], tiny['checkpoint'], 'classification',
             'an mmpretrain classifier'),
            (str(seg_config), str(tmp_path / 'seg.pth'), 'segmentation',
             'an mmseg segmentor')):
        out = tmp_path / f'out_{task}'
        assert deploy_tool.main([config, ckpt, '--out', str(out), '--nms',
                                 'host']) == 2
        line = _one_line(capsys.readouterr().err)
        assert line == (f"error: nms='host' applies to detection exports "
                        f'only; this config is a {task} one ({model})'), line
        assert not out.exists()


def test_nms_unknown_value_exits_2(tiny, tmp_path, capsys):
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as info:
        _deploy(tiny, out, '--nms', 'gpu')
    assert info.value.code == 2
    assert "argument --nms: invalid choice: 'gpu'" in capsys.readouterr().err
    assert not out.exists()


# helpers.RETINANET, narrower, 3 classes, every box kept.
DET_CONFIG = """
_base_ = './tiny_retinanet.py'
model = dict(
    neck=dict(out_channels=16),
    bbox_head=dict(num_classes=3, in_channels=16, feat_channels=16,
                   anchor_generator=dict(scales_per_octave=1,
                                         ratios=[1.0])),
    test_cfg=dict(nms_pre=100, score_thr=0.0))
test_dataloader = dict(dataset=dict(metainfo=dict(classes=('a', 'b', 'c'))))
"""


def test_detection_labels_beyond_classes_are_named(tiny, tmp_path):
    """A detector's class count is not in its outputs: the export records
    it in the IR (rt_info), so a deploy.json with fewer classes is named at
    load. An export before that record is named when a label exceeds
    them (it was an IndexError)."""
    from mmlcnetv2.apis import register_scope
    cfg_path = _write_config(tmp_path, DET_CONFIG, 'det.py')
    cfg = load_config(str(cfg_path))
    register_scope(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'det.pth')
    ir = tmp_path / 'ir'
    export(str(cfg_path), str(tmp_path / 'det.pth'), str(ir))
    labels = OpenVINOInferencer(str(ir))(tiny['image'])['labels']
    assert labels.max() >= 1  # score_thr 0: all three classes show up
    meta = json.loads((ir / 'deploy.json').read_text())
    meta['classes'] = ['a']
    (ir / 'deploy.json').write_text(json.dumps(meta))
    with pytest.raises(DeployFormatError,
                       match=r"deploy.json: 'classes' has 1 names but "
                       r'model.xml has 3 classes \(rt_info\)'):
        OpenVINOInferencer(str(ir))
    xml = (ir / 'model.xml').read_text()
    record = '<mmlcnetv2>\n\t\t\t<num_classes value="3" />\n\t\t</mmlcnetv2>'
    assert record in xml
    (ir / 'model.xml').write_text(xml.replace(record, ''))
    with pytest.raises(DeployFormatError,
                       match=r"deploy.json: 'classes' has 1 names but the "
                       r'model returned label [12]$'):
        OpenVINOInferencer(str(ir))(tiny['image'])
