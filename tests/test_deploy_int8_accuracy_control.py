"""``tools/deploy.py --precision int8 --max-drop F``: NNCF accuracy control
with the config's own evaluator, through the deployed path, on a tiny
PP-LCNetV2 classifier; and the refusals of bad ``--max-drop`` values."""
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
from mmlcnetv2.deploy.runtime.evaluate import evaluate_ir
from helpers import CLASSIFIER, randomize_weights

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'tools'))
from deploy import main  # noqa: E402  (tools/deploy.py)

pytest.importorskip('openvino')
pytest.importorskip('nncf')

CLASSES = ('a', 'b', 'c')
# The bound the test asks for (a random model is far more fragile than a
# trained one: every int8 layer flips some of its near-tie images).
MAX_DROP = 0.1
# The tiny classifier scored on a val folder with the config's Accuracy.
EVALUATED = CLASSIFIER + """
test_dataloader = dict(
    batch_size=2,
    dataset=dict(type='CustomDataset', data_root='{root}/val',
                 metainfo=dict(classes={classes}), pipeline=test_pipeline))
test_evaluator = dict(type='Accuracy', topk=(1, ))
"""


def _random_image(rng, h, w):
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3),
                         dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _write(path, text, root):
    path.write_text(text.replace('{root}', str(root)).replace(
        '{classes}', repr(CLASSES)))
    return str(path)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A BN-randomised tiny classifier and 60 images, which are also the val
    set, labelled with the f32 IR's own top-1: f32 scores 100 %, and int8
    noise flips the least certain ones, so the accuracy control has layers
    to return to float."""
    root = tmp_path_factory.mktemp('int8_ac')
    rng = np.random.default_rng(0)
    for i in range(60):
        os.makedirs(root / 'train' / CLASSES[i % 3], exist_ok=True)
        cv2.imwrite(str(root / 'train' / CLASSES[i % 3] / f'{i}.png'),
                    _random_image(rng, 64 + i % 13, 90 - i % 11))
    config = _write(root / 'cls.py', EVALUATED, root)
    bare = _write(root / 'bare.py', CLASSIFIER, root)  # no test_evaluator
    torch.manual_seed(0)
    model = build_model(load_config(config))
    randomize_weights(model)
    ckpt = str(root / 'cls.pth')
    f32 = str(root / 'f32')
    paths = [str(root / 'train' / c / name) for c in CLASSES
             for name in sorted(os.listdir(root / 'train' / c))]
    for centred in (False, True):
        torch.save(dict(state_dict=model.state_dict()), ckpt)
        export(config, ckpt, f32)
        inferencer = OpenVINOInferencer(f32, precision_hint='f32')
        logits = np.stack([inferencer(p)['logits'] for p in paths])
        if not centred:
            # A random model favours one class; centring its logits over
            # the images (the fc bias) spreads its top-1 over all three.
            with torch.no_grad():
                model.head.fc.bias -= torch.from_numpy(logits.mean(0))
    assert len(set(logits.argmax(1))) == 3
    for k, (path, label) in enumerate(zip(paths, logits.argmax(1))):
        label = CLASSES[label]
        os.makedirs(root / 'val' / label, exist_ok=True)
        shutil.copy(path, root / 'val' / label / f'{k}.png')
    for c in CLASSES:  # CustomDataset wants a folder per class
        os.makedirs(root / 'val' / c, exist_ok=True)
    return dict(root=root, config=config, bare=bare, checkpoint=ckpt,
                f32=f32)


def _top1(model_dir, config):
    return evaluate_ir(model_dir, load_config(config),
                       progress=False)['metrics']['accuracy/top1'] / 100


@pytest.mark.slow
def test_max_drop_holds_and_is_recorded(tiny):
    """Plain PTQ loses top-1 on the uncertain images; with --max-drop the
    export holds the bound, and deploy.json records the metric before and
    after (equal to what tools/deploy_test.py measures on the written
    exports) and which layers stayed float."""
    root, config, ckpt = tiny['root'], tiny['config'], tiny['checkpoint']
    plain, bounded = str(root / 'int8'), str(root / 'int8_bounded')
    assert main([config, ckpt, '--out', plain, '--precision', 'int8',
                 '--calib', '20']) == 0
    before = _top1(tiny['f32'], config)
    plain_top1 = _top1(plain, config)
    assert before == 1.0
    # The premise: without a bound int8 costs accuracy here.
    assert plain_top1 < before - MAX_DROP, plain_top1
    assert 'accuracy_control' not in json.load(
        open(osp.join(plain, 'deploy.json')))['calibration']

    max_drop = MAX_DROP
    assert main([config, ckpt, '--out', bounded, '--precision', 'int8',
                 '--calib', '20', '--max-drop', str(max_drop)]) == 0
    meta = json.load(open(osp.join(bounded, 'deploy.json')))
    ac = meta['calibration']['accuracy_control']
    assert meta['precision'] == 'int8'
    assert ac['metric'] == 'accuracy/top1' and ac['split'] == 'test'
    assert ac['images'] == 60 and ac['max_drop'] == max_drop
    after = _top1(bounded, config)
    assert ac['before'] == pytest.approx(before)
    assert ac['after'] == pytest.approx(after)
    assert before - after <= max_drop
    assert ac['drop'] == pytest.approx(before - after)
    # Layers went back to float (this random model is so fragile that NNCF
    # may need all of them); the record names them and covers every layer.
    import openvino as ov
    from mmlcnetv2.deploy.exporting.accuracy_control import quantized_layers
    core = ov.Core()
    plain_int8, plain_float = quantized_layers(
        core.read_model(osp.join(plain, 'model.xml')))
    assert ac['float_layers']
    assert ac['int8_layers'] + len(ac['float_layers']) == len(
        plain_int8) + len(plain_float)
    ops = {op.get_friendly_name(): op for op in
           core.read_model(osp.join(bounded, 'model.xml')).get_ordered_ops()}
    for name in ac['float_layers']:
        assert ops[name].input_value(0).get_node().get_type_name() \
            != 'FakeQuantize', name


@pytest.mark.parametrize('args, bad', [
    (['--precision', 'int8', '--max-drop', '-0.01'], '-0.01'),
    (['--precision', 'int8', '--max-drop', '1'], '1.0'),
    (['--precision', 'int8', '--max-drop', 'nan'], 'nan'),
    (['--max-drop', '0.01'], 'f32'),
    (['--precision', 'f16', '--max-drop', '0.01'], 'f16'),
])
def test_bad_max_drop_is_refused(tiny, tmp_path, capsys, args, bad):
    out = tmp_path / 'out'
    assert main([tiny['config'], tiny['checkpoint'], '--out', str(out)]
                + args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--max-drop' in err and bad in err
    assert not out.exists()


def test_config_without_evaluator_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / 'out'
    assert main([tiny['bare'], tiny['checkpoint'], '--out', str(out),
                 '--precision', 'int8', '--max-drop', '0.01']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'val_evaluator' in err, err
    assert not out.exists()
