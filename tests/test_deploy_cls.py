"""OpenVINO export of a classifier: parity with torch, inferencer, threads,
bad input, fused graph. A tiny PP-LCNetV2 keeps it fast."""
import json
import os
import os.path as osp
import threading

import cv2
import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from mmlcnetv2.apis import build_model, load_config
from mmlcnetv2.deploy import OpenVINOInferencer, export
from helpers import CLASSIFIER, randomize_weights  # noqa: E402

ov = pytest.importorskip('openvino')

CLASSES = ('a', 'b', 'c')
CONFIG = CLASSIFIER


def _random_image(rng, h, w):
    # Smooth content (not noise) so resizing matters like on a photo.
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3),
                         dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """Config, randomly initialized checkpoint (BN statistics non-trivial)
    and a few train images."""
    root = tmp_path_factory.mktemp('cls')
    rng = np.random.default_rng(0)
    for i in range(9):
        os.makedirs(root / 'train' / CLASSES[i % 3], exist_ok=True)
        cv2.imwrite(str(root / 'train' / CLASSES[i % 3] / f'{i}.png'),
                    _random_image(rng, 50 + 7 * i, 90 - 5 * i))
    cfg_path = root / 'cls.py'
    cfg_path.write_text(CONFIG.replace('{root}', str(root)).replace(
        '{classes}', repr(CLASSES)))
    cfg = load_config(str(cfg_path))
    torch.manual_seed(0)
    model = build_model(cfg)
    randomize_weights(model)
    ckpt = root / 'cls.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return dict(root=root, config=str(cfg_path), checkpoint=str(ckpt),
                model=model.eval())


@pytest.fixture(scope='module')
def dynamic_ir(tiny):
    """Float input (the tests feed it tensors), dynamic shapes, ONNX."""
    out = tiny['root'] / 'ir_dynamic'
    export(tiny['config'], tiny['checkpoint'], str(out), dynamic=True,
           onnx=True, input_form='float')
    return str(out)


@pytest.fixture(scope='module')
def static_ir(tiny):
    """The default export: static, uint8 image input."""
    out = tiny['root'] / 'ir_static'
    export(tiny['config'], tiny['checkpoint'], str(out))
    return str(out)


@pytest.fixture(scope='module')
def static_float_ir(tiny):
    """``--input float`` of the default export: the host normalizes."""
    out = tiny['root'] / 'ir_static_float'
    export(tiny['config'], tiny['checkpoint'], str(out), input_form='float')
    return str(out)


def _torch_logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x), mode='tensor').numpy()


@pytest.mark.parametrize('shape', [(64, 64), (96, 128), (75, 90)])
def test_logits_parity_dynamic_batch2(tiny, dynamic_ir, shape):
    """Fused IR (f32) == unfused torch model, batch 2, three input sizes."""
    x = np.random.default_rng(1).standard_normal(
        (2, 3, *shape)).astype(np.float32)
    inferencer = OpenVINOInferencer(dynamic_ir, precision_hint='f32')
    assert inferencer.precision == 'f32'
    got = inferencer.infer_tensor(x)[0]
    ref = _torch_logits(tiny['model'], x)
    assert got.shape == ref.shape == (2, 3)
    err = np.abs(got - ref).max()
    assert err <= 1e-4 * np.abs(ref).max(), (err, np.abs(ref).max())


def test_preprocess_matches_test_pipeline(tiny, static_ir, static_float_ir,
                                          tmp_path):
    """The inferencer's input == mmpretrain's pipeline (the uint8 default:
    the cropped image, exactly) + data preprocessor (the float form, pixel
    for pixel); and the default export's logits match test_step."""
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    cfg = load_config(tiny['config'])
    pipeline = Compose(cfg.test_pipeline)
    path = str(tmp_path / 'img.jpg')
    cv2.imwrite(path, _random_image(np.random.default_rng(2), 83, 121))
    data = pipeline(dict(img_path=path))
    model = tiny['model']
    # mmpretrain configs keep data_preprocessor at the top level (its tools
    # copy it into the model); build it as mmpretrain's Runner would.
    from mmpretrain.models import ClsDataPreprocessor
    model.data_preprocessor = ClsDataPreprocessor(**cfg.data_preprocessor)
    batch = model.data_preprocessor(dict(inputs=[data['inputs']],
                                         data_samples=[data['data_samples']]))
    info = OpenVINOInferencer(static_float_ir).preprocess(path)
    np.testing.assert_allclose(info['input'], batch['inputs'].numpy(),
                               rtol=0, atol=1e-5)
    inferencer = OpenVINOInferencer(static_ir, precision_hint='f32')
    info = inferencer.preprocess(path)
    assert info['input'].dtype == np.uint8
    np.testing.assert_array_equal(
        info['input'][0], data['inputs'].permute(1, 2, 0).numpy())
    result = inferencer(path)
    with torch.no_grad():
        ref = model.test_step(dict(inputs=[data['inputs']],
                                   data_samples=[data['data_samples']]))[0]
    np.testing.assert_allclose(result['scores'], ref.pred_score.numpy(),
                               atol=1e-5)
    assert result['label'] == int(ref.pred_label)
    assert result['class_name'] == CLASSES[result['label']]


@pytest.mark.parametrize('size', [(83, 121), (250, 97), (301, 333)])
def test_uint8_default_equals_float_form_and_test_step(
        tiny, static_ir, static_float_ir, size):
    """The default export (uint8 in, normalization in the IR) gives the
    float-input export's logits and mmpretrain's ``test_step`` ones (the
    unfused model, the config's own pipeline) on odd-size images."""
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    from mmpretrain.models import ClsDataPreprocessor
    init_default_scope('mmpretrain')
    cfg = load_config(tiny['config'])
    img = _random_image(np.random.default_rng(size[0]), *size)
    data = Compose(cfg.test_pipeline[1:])(dict(img=img, ori_shape=size,
                                               img_shape=size))
    model = tiny['model']
    model.data_preprocessor = ClsDataPreprocessor(**cfg.data_preprocessor)
    with torch.no_grad():
        ref = model.test_step(dict(inputs=[data['inputs']],
                                   data_samples=[data['data_samples']]))[0]
    meta = json.load(open(osp.join(static_ir, 'deploy.json')))
    assert meta['input']['dtype'] == 'uint8'
    assert meta['input']['layout'] == 'NHWC'
    assert meta['input']['color_order'] == 'BGR'
    assert 'normalize' in meta['input']['preprocess_in_graph']
    default = OpenVINOInferencer(static_ir, precision_hint='f32')(img)
    floats = OpenVINOInferencer(static_float_ir, precision_hint='f32')(img)
    scale = np.abs(floats['logits']).max()
    assert np.abs(default['logits'] - floats['logits']).max() <= 1e-4 * scale
    np.testing.assert_allclose(default['scores'], ref.pred_score.numpy(),
                               atol=1e-5)
    assert default['label'] == floats['label'] == int(ref.pred_label)


def test_fast_decode_large_jpeg(static_ir, tmp_path):
    """fast_decode=True: a 1600x1200 JPEG (resize-short 73) is decoded at
    1/8, with the full decode's scale, crop and original shape; the default
    is the full decode, and arrays are never affected."""
    from mmlcnetv2.deploy.runtime import inferencer as inferencer_module
    path = str(tmp_path / 'large.jpg')
    img = cv2.resize(_random_image(np.random.default_rng(3), 150, 200),
                     (1600, 1200), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    full = OpenVINOInferencer(static_ir, precision_hint='f32',
                              fast_decode=False)
    fast = OpenVINOInferencer(static_ir, precision_hint='f32',
                              fast_decode=True)
    assert OpenVINOInferencer(static_ir).fast_decode is \
        inferencer_module.FAST_DECODE
    a, b = full.preprocess(path), fast.preprocess(path)
    assert b['ori_shape'] == a['ori_shape'] == (1200, 1600)
    assert b['scale'] == a['scale'] and b['offset'] == a['offset']
    assert b['input'].shape == a['input'].shape == (1, 64, 64, 3)
    diff = np.abs(b['input'].astype(np.float32) - a['input'])
    assert 0 < diff.mean() < 0.05 * 58  # a smooth image: little to lose
    np.testing.assert_array_equal(fast(img)['logits'], full(img)['logits'])


def test_threads_equal_sequential(static_ir):
    """8 threads x 50 images give exactly the sequential results."""
    rng = np.random.default_rng(3)
    images = [_random_image(rng, 64 + i % 7, 80 - i % 5) for i in range(50)]
    inferencer = OpenVINOInferencer(static_ir, precision_hint='f32')
    expected = [inferencer(img)['logits'] for img in images]
    results = [[None] * len(images) for _ in range(8)]
    errors = []

    def work(t):
        try:
            order = np.random.default_rng(t).permutation(len(images))
            for i in order:
                results[t][i] = inferencer(images[i])['logits']
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t, )) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for t in range(8):
        for got, want in zip(results[t], expected):
            np.testing.assert_array_equal(got, want)


def test_gray_and_rgba_images_are_converted(static_ir, tmp_path):
    inferencer = OpenVINOInferencer(static_ir, precision_hint='f32')
    bgr = _random_image(np.random.default_rng(4), 70, 70)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(tmp_path / 'g.png'), gray)
    cv2.imwrite(str(tmp_path / 'a.png'), rgba)
    as_gray3 = inferencer(np.repeat(gray[:, :, None], 3, 2))['logits']
    np.testing.assert_array_equal(inferencer(gray)['logits'], as_gray3)
    np.testing.assert_array_equal(
        inferencer(str(tmp_path / 'g.png'))['logits'], as_gray3)
    want = inferencer(bgr)['logits']
    np.testing.assert_array_equal(inferencer(rgba)['logits'], want)
    np.testing.assert_array_equal(
        inferencer(str(tmp_path / 'a.png'))['logits'], want)


def test_bad_images_and_dirs(static_ir, tmp_path):
    inferencer = OpenVINOInferencer(static_ir)
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not an image at all')
    with pytest.raises(ValueError, match='Cannot decode image'):
        inferencer(str(bad))
    with pytest.raises(FileNotFoundError, match='Image not found'):
        inferencer(str(tmp_path / 'missing.jpg'))
    with pytest.raises(ValueError, match='shape'):
        inferencer(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FileNotFoundError, match='deploy.json'):
        OpenVINOInferencer(str(tmp_path))
    with pytest.raises(ValueError, match='precision_hint'):
        OpenVINOInferencer(static_ir, precision_hint='fp64')


def test_mismatched_checkpoint_leaves_no_output(tiny, tmp_path):
    wrong = tmp_path / 'wrong.py'
    wrong.write_text(open(tiny['config']).read().replace(
        'num_classes=3', 'num_classes=5'))
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError, match='does not match config'):
        export(str(wrong), tiny['checkpoint'], str(out))
    assert not out.exists()
    assert os.listdir(tmp_path) == ['wrong.py']


def test_unsupported_pipeline_is_named(tiny, tmp_path):
    cfg = open(tiny['config']).read().replace(
        "dict(type='CenterCrop', crop_size=64)",
        "dict(type='CenterCrop', crop_size=64), dict(type='Posterize', "
        "bits=4)")
    path = tmp_path / 'bad.py'
    path.write_text(cfg)
    with pytest.raises(ValueError, match="'Posterize'"):
        export(str(path), tiny['checkpoint'], str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()


def test_deploy_json_and_onnx(dynamic_ir):
    meta = json.load(open(osp.join(dynamic_ir, 'deploy.json')))
    assert meta['task'] == 'classification'
    assert meta['classes'] == list(CLASSES)
    assert meta['preprocess']['color_order'] == 'RGB'
    assert [s['op'] for s in meta['preprocess']['steps']] == [
        'resize_edge', 'center_crop']
    import onnxruntime as ort
    sess = ort.InferenceSession(osp.join(dynamic_ir, 'model.onnx'),
                                providers=['CPUExecutionProvider'])
    x = np.random.default_rng(5).standard_normal(
        (2, 3, 96, 80)).astype(np.float32)
    got = sess.run(None, {'input': x})[0]
    ref = OpenVINOInferencer(dynamic_ir, precision_hint='f32').infer_tensor(
        x)[0]
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_fused_graph_has_no_reshape(tiny, static_ir):
    """Pooling as ReduceMean: no Reshape anywhere, each SE block fused into
    one CPU Subgraph, nothing left of the rep branches."""
    from mmpretrain.models.utils import SELayer
    from mmlcnetv2.deploy import load_for_export
    _, fused, _ = load_for_export(tiny['config'], tiny['checkpoint'])
    num_se = sum(isinstance(m, SELayer) for m in fused.modules())
    num_conv = sum(isinstance(m, torch.nn.Conv2d) for m in fused.modules())
    assert num_se == 2
    core = ov.Core()
    model = core.read_model(osp.join(static_ir, 'model.xml'))
    types = [op.get_type_name() for op in model.get_ordered_ops()]
    assert 'Reshape' not in types and 'AdaptiveAvgPool' not in types
    # + global pooling, + the flattening of the head's 1x1 map
    assert types.count('ReduceMean') == num_se + 2
    # + the head's expansion, run as a 1x1 conv (PooledConvHead)
    assert types.count('Convolution') + types.count(
        'GroupConvolution') == num_conv + 1
    assert types.count('MatMul') == 1  # only the classifier fc
    compiled = core.compile_model(model, 'CPU',
                                  {'INFERENCE_PRECISION_HINT': 'f32'})
    ops = compiled.get_runtime_model().get_ordered_ops()
    runtime = [op.get_rt_info()['layerType'].astype(str) for op in ops]

    def layer_type(node):
        return node.get_rt_info()['layerType'].astype(str)

    # Reshapes of constants (bias layouts) run once at load; none may touch
    # activations.
    data_reshapes = [
        op.get_friendly_name() for op in ops if layer_type(op) == 'Reshape'
        and layer_type(op.input_value(0).get_node()) != 'Const'
    ]
    assert data_reshapes == []
    assert runtime.count('Subgraph') >= num_se


@pytest.mark.parametrize(
    'precision', ['fp16', pytest.param('int8', marks=pytest.mark.slow)])
def test_fp16_and_int8(tiny, static_ir, static_float_ir, precision,
                       tmp_path):
    """The default (uint8-input) export in f16 and int8 (calibrated on
    uint8 images, as it is fed) against torch on the same image."""
    out = tmp_path / precision
    meta = export(tiny['config'], tiny['checkpoint'], str(out),
                  precision=precision, calib=6)
    ref_bin = osp.getsize(osp.join(static_ir, 'model.bin'))
    size = osp.getsize(out / 'model.bin')
    assert size < 0.6 * ref_bin, (size, ref_bin)
    img = _random_image(np.random.default_rng(6), 77, 101)
    inferencer = OpenVINOInferencer(str(out), precision_hint='f32')
    got = inferencer.infer_tensor(inferencer.preprocess(img)['input'])[0]
    x = OpenVINOInferencer(static_float_ir).preprocess(img)['input']
    ref = _torch_logits(tiny['model'], x)
    tol = 2e-2 if precision == 'fp16' else 0.25
    assert np.abs(got - ref).max() <= tol * np.abs(ref).max()
    if precision == 'int8':
        assert meta['calibration']['images'] == 6
        types = {op.get_type_name() for op in ov.Core().read_model(
            str(out / 'model.xml')).get_ordered_ops()}
        assert 'FakeQuantize' in types or 'FakeConvert' in types


def test_unsupported_op_is_named():
    """An op OpenVINO cannot convert: a RuntimeError naming it."""
    from mmlcnetv2.deploy.exporting import convert

    class IndexPut(torch.nn.Module):

        def forward(self, x):
            return torch.ops.aten.index_put(
                x.reshape(-1), (torch.tensor([0]), ), torch.tensor([1.0]))

    with pytest.raises(RuntimeError, match='could not convert IndexPut'
                       '(.|\n)*aten::index_put'):
        convert(IndexPut(), torch.rand(1, 3, 8, 8), False, ['out'])


def test_deploy_test_tool_scores_like_torch(tiny, static_ir, dynamic_ir,
                                            tmp_path):
    """tools/deploy_test.py: the IR's top-1 on the test set equals torch's
    (same pipeline, same predictions); two exports of one model agree."""
    import sys
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'tools'))
    import deploy_test
    from mmengine.dataset import Compose
    from mmengine.registry import DATASETS, init_default_scope
    from mmpretrain.models import ClsDataPreprocessor
    init_default_scope('mmpretrain')
    cfg = load_config(tiny['config'])
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model = tiny['model']
    model.data_preprocessor = ClsDataPreprocessor(**cfg.data_preprocessor)
    correct = 0
    with torch.no_grad():
        for i in range(len(dataset)):
            data = dataset[i]
            out = model.test_step(dict(inputs=[data['inputs']],
                                       data_samples=[data['data_samples']]))
            correct += int(out[0].pred_label) == int(out[0].gt_label)
    expected = 100.0 * correct / len(dataset)

    out_json = tmp_path / 'eval.json'
    assert deploy_test.main([
        tiny['config'], static_ir, '--compare-to', dynamic_ir, '--out',
        str(out_json), '--cfg-options', 'test_evaluator.type=Accuracy'
    ]) == 0
    result = json.loads(out_json.read_text())
    assert result['images'] == len(dataset) == 9
    assert result['metrics']['accuracy/top1'] == pytest.approx(expected)
    assert result['compare_metrics']['accuracy/top1'] == pytest.approx(
        expected)
    assert result['agreement'] == 1.0
    # Bad input: a clear error, nothing written.
    assert deploy_test.main([tiny['config'], static_ir, '--limit', '0']) == 2
    missing = str(tmp_path / 'nothing_here')
    assert deploy_test.main([tiny['config'], missing, '--out',
                             str(tmp_path / 'no.json')]) == 2
    assert not (tmp_path / 'no.json').exists()
