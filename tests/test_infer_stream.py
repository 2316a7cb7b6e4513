"""Many images at throughput (``OpenVINOInferencer.map``/``stream``, the
async queue of ``tools/infer.py``): the same results as one by one, in
input order, on real photos at odd sizes, for a classifier and a detector;
a bad image is reported in its place and does not stall the others."""
import itertools
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmlcnetv2.deploy import OpenVINOInferencer, export
from mmlcnetv2.deploy.runtime.stream import default_jobs
from test_deploy_cls import static_ir, tiny  # noqa: F401  (fixtures)
from helpers import randomize_weights

pytest.importorskip('openvino')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    from photos import photo_files
    return list(photo_files(tmp_path_factory.mktemp('photos')).values())


@pytest.fixture(scope='module')
def detector_ir(tmp_path_factory):
    """The PicoDet-style detector of test_deploy_det with random weights
    (many boxes of varied scores), exported dynamic: two IR inputs."""
    from mmlcnetv2.apis import build_model, load_config, register_scope
    from test_deploy_det import PICO_CONFIG
    root = tmp_path_factory.mktemp('pico_random')
    cfg_path = root / 'det.py'
    cfg_path.write_text(PICO_CONFIG)
    cfg = load_config(str(cfg_path))
    register_scope(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    randomize_weights(model)
    ckpt = root / 'det.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = root / 'ir_dynamic'
    export(str(cfg_path), str(ckpt), str(out), dynamic=True)
    return str(out)


def _assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value, key


@pytest.mark.parametrize('ir', ['static_ir', 'detector_ir'])
def test_map_equals_one_by_one_in_order(ir, photos, request):
    inferencer = OpenVINOInferencer(request.getfixturevalue(ir))
    # Twice over, paths and arrays mixed: more images than requests.
    images = photos + [np.ascontiguousarray(cv2.imread(p)[::-1])
                       for p in photos]
    want = [inferencer(image) for image in images]
    if ir == 'detector_ir':  # the comparison has boxes to compare
        assert sum(len(w['scores']) for w in want) >= len(images)
        assert len(inferencer.compiled.inputs) == 2
    got = list(inferencer.map(iter(images), workers=3))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _assert_same(g, w)
    # a list through __call__: the same path
    for g, w in zip(inferencer(images), want):
        _assert_same(g, w)
    tp = inferencer.throughput_model()
    assert str(tp.get_property('PERFORMANCE_HINT')).endswith('THROUGHPUT')
    assert tp is not inferencer.compiled


def test_bad_image_in_its_place_others_go_on(static_ir, photos, tmp_path):
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    images = photos[:2] + [str(broken)] + photos[2:] + [str(tmp_path / 'x')]
    inferencer = OpenVINOInferencer(static_ir)
    got = list(inferencer.map(images, return_exceptions=True))
    assert len(got) == len(images)
    assert isinstance(got[2], ValueError) and 'broken.jpg' in str(got[2])
    assert isinstance(got[-1], FileNotFoundError)
    for g, path in zip(got[:2] + got[3:-1], photos):
        _assert_same(g, inferencer(path))
    # without return_exceptions: the images before it, then its error
    seen = []
    with pytest.raises(ValueError, match='broken.jpg'):
        for result in inferencer.map(images):
            seen.append(result)
    assert len(seen) == 2
    # stream: the error with its index and item
    items = list(inferencer.stream(images, keep_images=True))
    assert [d.index for d in items] == list(range(len(images)))
    assert [d.error is not None for d in items] == [
        False, False, True] + [False] * (len(photos) - 2) + [True]
    # keep_images: the decoded picture, to draw on
    np.testing.assert_array_equal(items[0].prepared[0], cv2.imread(photos[0]))


def test_stops_early_on_an_endless_iterator(static_ir, photos):
    """Breaking out ends the feeder: the iterator is read only a few items
    ahead, and the generator closes without hanging."""
    inferencer = OpenVINOInferencer(static_ir)
    read = []

    def endless():
        for path in itertools.cycle(photos):
            read.append(path)
            yield path

    results = inferencer.map(endless(), workers=2)
    first = [next(results) for _ in range(3)]
    results.close()
    jobs = default_jobs(inferencer.throughput_model())
    assert len(read) <= 3 + jobs + 2 * 2 + 3, len(read)
    _assert_same(first[1], inferencer(photos[1]))


def test_failing_iterator_raises_after_the_items_before(static_ir, photos):
    def failing():
        yield from photos[:2]
        raise KeyError('iterator broke')

    inferencer = OpenVINOInferencer(static_ir)
    seen = []
    with pytest.raises(KeyError, match='iterator broke'):
        for result in inferencer.map(failing()):
            seen.append(result)
    assert len(seen) == 2 and osp.isfile(photos[0])


# A subprocess: the caller holds the GIL (a switch interval longer than the
# test) while OpenVINO finishes the requests in flight, then counts the
# Python thread states that no Python thread owns: the OpenVINO threads
# waiting for the GIL to run a Python callback. Destroying the requests or
# the compiled model while holding the GIL waits for exactly those threads:
# the hang of infer.py at exit, about 1 run in 27.
_HOLD_THE_GIL = r'''
import ctypes, sys, threading, time
from mmlcnetv2.deploy import OpenVINOInferencer

api = ctypes.pythonapi  # PyDLL: calls keep the GIL
api.PyInterpreterState_Get.restype = ctypes.c_void_p
api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
api.PyThreadState_Next.restype = ctypes.c_void_p
api.PyThreadState_Next.argtypes = [ctypes.c_void_p]


def thread_states():
    n, ts = 0, api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Get())
    while ts:
        n, ts = n + 1, api.PyThreadState_Next(ts)
    return n


inferencer = OpenVINOInferencer(sys.argv[1])
items = inferencer.stream(sys.argv[2:] * 4, jobs=4, workers=1)
next(items)
time.sleep(0.5)  # the feeder starts the next requests
sys.setswitchinterval(1000)
end = time.perf_counter() + 2  # OpenVINO finishes them meanwhile
while time.perf_counter() < end:
    pass
foreign = thread_states() - len(threading.enumerate())
sys.setswitchinterval(0.005)
rest = list(items)
del items, inferencer
print('foreign', foreign, 'items', 1 + len(rest))
'''


def test_no_openvino_thread_waits_for_the_gil(static_ir, photos, tmp_path):
    import subprocess
    import sys
    from test_train_helpers import ROOT, tool_env
    script = tmp_path / 'hold_the_gil.py'
    script.write_text(_HOLD_THE_GIL)
    try:
        out = subprocess.run([sys.executable, str(script), static_ir,
                              *photos], cwd=ROOT, env=tool_env(),
                             capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail('the stream hung (an OpenVINO thread waits for the GIL '
                    'that the caller holds)')
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-4:] == [
        'foreign', '0', 'items', str(4 * len(photos))], out.stdout
