"""Weights named by URL or Hugging Face hub id: fetched once into the cache
(torch.hub's, Hugging Face's), converted while loading; offline, a failed
or a partial download is one line naming the URL, the cache path and the
command, and leaves nothing in the cache.

Real downloads over HTTP from a server on 127.0.0.1 (serving ``.pdparams``
made from random weights in Paddle's layout), real ``huggingface_hub``
reading a local cache with ``HF_HUB_OFFLINE=1``; nothing leaves the machine.
"""
import http.server
import os
import os.path as osp
import pickle
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import mmlcnetv2  # noqa: F401
from mmlcnetv2.converters import load_weights
from mmlcnetv2.converters.download import (HUB_FILENAME, TIMEOUT_ENV,
                                           WeightsDownloadError,
                                           fetch_weights, url_cache_path)
from mmlcnetv2.models import PPLCNetV2
from mmlcnetv2.utils.batchnorm import randomize_bn
from helpers import log_lines
from test_train_helpers import ROOT, run_tool, tool_env
from mmlcnetv2.datasets.generate.shapes import make_shapes

TINY = dict(scale=0.25, depths=[1, 1, 1, 1])
PADDLECLAS = ('https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/'
              'legendary_models/')
RETINA = osp.join(ROOT, 'configs', 'det', 'retinanet_lcnetv2.py')

# Our key -> PaddleClas's (the inverse of mmlcnetv2/converters/paddle.py,
# written here to build a Paddle-layout file without Paddle; if it were
# wrong, the converter would not find every tensor and the tests fail).
_TO_PADDLE = [
    (r'\.bn\.running_mean$', '.bn._mean'),
    (r'\.bn\.running_var$', '.bn._variance'),
    (r'^(stages\.\d+\.\d+)\.dw_conv\.dw_branches\.', r'\1.dw_conv_list.'),
    (r'\.se\.conv([12])\.conv\.', r'.se.conv\1.'),
    (r'\.pw_conv\.0\.', '.pw_conv_1.'),
    (r'\.pw_conv\.1\.', '.pw_conv_2.'),
]


def paddle_classifier(arch, seed=0, num_classes=1000):
    """A PaddleClas-layout classifier state dict with random weights and BN
    statistics, and the backbone it was made from."""
    torch.manual_seed(seed)
    backbone = randomize_bn(PPLCNetV2(arch), seed=seed)
    state = {}
    for key, value in backbone.state_dict().items():
        if key.endswith('num_batches_tracked'):
            continue
        for pattern, repl in _TO_PADDLE:
            key = re.sub(pattern, repl, key)
        state[key] = value.numpy().copy()
    rng = np.random.default_rng(seed)
    width = backbone.out_channels[-1]
    state['last_conv.weight'] = rng.standard_normal(
        (1280, width, 1, 1)).astype('float32')
    state['fc.weight'] = rng.standard_normal(
        (1280, num_classes)).astype('float32')  # Paddle's Linear: [in, out]
    state['fc.bias'] = rng.standard_normal(num_classes).astype('float32')
    return pickle.dumps(state, protocol=4), backbone


# ------------------------------------------------------ the loopback server
class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}  # path -> bytes (set per server)
    requests = []  # paths requested
    released = threading.Event()  # ends the stalls (set per server)

    def do_GET(self):
        self.requests.append(self.path)
        body = self.files.get(re.sub('^/(truncated|stall)/', '/', self.path))
        if body is None:
            self.send_error(404, 'File not found')
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.path.startswith('/truncated'):
            body = body[:len(body) // 2]  # the connection drops half-way
        if self.path.startswith('/stall'):
            # Half the body, then nothing, the connection open.
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.released.wait()
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serve(files, seconds=300):
    """Serve ``files`` (path -> bytes) on 127.0.0.1 in a thread; yields
    (base URL, list of requested paths). Stops on exit, or by itself after
    ``seconds`` should the test hang."""
    handler = type('Handler', (_Handler, ), dict(
        files=files, requests=[], released=threading.Event()))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs=dict(poll_interval=0.1), daemon=True)
    def stop():
        handler.released.set()
        server.shutdown()

    bound = threading.Timer(seconds, stop)
    thread.start()
    bound.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', handler.requests
    finally:
        bound.cancel()
        handler.released.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def closed_port_url(name):
    """A loopback URL nothing listens on: what offline looks like."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}/{name}'


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """torch.hub's cache in a fresh folder (TORCH_HOME, as a user sets it)."""
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    return home


@pytest.fixture(scope='module')
def tiny_pdparams():
    return paddle_classifier(TINY, seed=1)


def _backbone(checkpoint, arch=TINY):
    return PPLCNetV2(arch, out_indices=(0, 1, 2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint, prefix='backbone.'))


def _cache_files(torch_home):
    return sorted(p for d, _, fs in os.walk(torch_home)
                  for p in (osp.join(d, f) for f in fs))


# ---------------------------------------------------------------- URLs
def test_url_is_downloaded_once_converted_and_loaded(torch_home,
                                                    tiny_pdparams):
    body, reference = tiny_pdparams
    name = 'PPLCNetV2_small_pretrained.pdparams'
    with serve({f'/{name}': body}) as (base, requests):
        url = f'{base}/{name}'
        cached = url_cache_path(url)
        assert cached == str(torch_home / 'hub' / 'checkpoints' / name)
        with log_lines() as lines:
            first = _backbone(url)
            first.init_weights()
            second = _backbone(url)
            second.init_weights()
        assert requests == [f'/{name}']  # the second build asked nothing
    assert _cache_files(torch_home) == [cached]
    with open(cached, 'rb') as f:
        assert f.read() == body
    expected = {k: v for k, v in reference.state_dict().items()
                if not k.endswith('num_batches_tracked')}
    for model in (first, second):
        state = model.state_dict()
        for key, value in expected.items():
            assert torch.equal(state[key], value), key
    assert any(f'downloading {url} to {cached}' in line for line in lines)
    assert any(f'{url} is cached at {cached}' in line for line in lines)
    assert any(f'from {cached}: pickle file, a PaddleClas state dict' in line
               for line in lines)


@pytest.mark.parametrize('failure', ['404', 'truncated', 'offline',
                                     'not weights'])
def test_failed_download_is_one_line_and_leaves_no_file(
        torch_home, tiny_pdparams, failure):
    body, _ = tiny_pdparams
    name = 'PPLCNetV2_small_pretrained.pdparams'
    files = {f'/{name}': body, '/page.pdparams': b'<html>login</html>'}
    with serve(files) as (base, requests):
        url = {'404': f'{base}/missing/{name}',
               'truncated': f'{base}/truncated/{name}',
               'offline': closed_port_url(name),
               'not weights': f'{base}/page.pdparams'}[failure]
        if failure == 'truncated':
            # The precondition: torch.hub's own download takes the short body
            # without an error and moves it into place.
            from torch.hub import download_url_to_file
            short = str(torch_home.parent / 'short.pdparams')
            download_url_to_file(url, short, progress=False)
            assert 0 < osp.getsize(short) < len(body)
            os.remove(short)
        with pytest.raises(WeightsDownloadError) as info:
            _backbone(url).init_weights()
    msg = str(info.value)
    cached = url_cache_path(url)
    assert '\n' not in msg
    assert f'cannot download {url} (' in msg
    assert f'put the file at {cached}' in msg
    assert f'`curl -fL --create-dirs -o {cached} {url}`' in msg
    assert {'404': 'HTTP Error 404', 'truncated': 'truncated',
            'offline': 'ConnectionRefusedError',
            'not weights': 'not a readable .pdparams'}[failure] in msg, msg
    assert _cache_files(torch_home) == []  # no partial or bad file


@pytest.mark.parametrize('use', ['init_weights', 'fetch_weights'])
def test_unreadable_cached_file_names_the_cache(torch_home, use):
    """A file in the cache that is damaged (on disk, or put there by hand):
    named as the cached download of the URL, with the command that deletes
    it, whoever asks for it (the backbone's init, train.py's check)."""
    url = closed_port_url('PPLCNetV2_small_pretrained.pdparams')
    cached = url_cache_path(url)
    os.makedirs(osp.dirname(cached))
    with open(cached, 'wb') as f:
        f.write(b'\x80\x04 cut short')
    with pytest.raises(WeightsDownloadError) as info:
        if use == 'fetch_weights':
            fetch_weights(url)
        else:
            _backbone(url).init_weights()
    msg = str(info.value)
    assert '\n' not in msg
    assert f'the cached download of {url} at {cached} is damaged' in msg
    assert f'delete it with `rm {cached}`' in msg
    assert osp.isfile(cached)  # not ours to delete


def test_stalled_server_is_one_line_within_the_timeout(
        torch_home, tiny_pdparams, monkeypatch):
    """A server that sends the headers and half the body, then nothing:
    the download gives up after MMLCNETV2_DOWNLOAD_TIMEOUT seconds (it
    waited forever), in one line, and leaves nothing in the cache."""
    body, _ = tiny_pdparams
    name = 'PPLCNetV2_small_pretrained.pdparams'
    monkeypatch.setenv(TIMEOUT_ENV, '1')
    with serve({f'/{name}': body}, seconds=60) as (base, requests):
        url = f'{base}/stall/{name}'
        start = time.perf_counter()
        with pytest.raises(WeightsDownloadError) as info:
            fetch_weights(url)
        took = time.perf_counter() - start
    msg = str(info.value)
    assert '\n' not in msg
    assert f'cannot download {url} (TimeoutError: no answer for 1 s; set ' \
        f'{TIMEOUT_ENV} to wait longer)' in msg, msg
    assert took < 15, took
    assert _cache_files(torch_home) == []


@pytest.mark.parametrize('value', ['0', 'soon', 'inf'])
def test_bad_timeout_setting_is_refused(torch_home, monkeypatch, value):
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(WeightsDownloadError, match=re.escape(
            f'{TIMEOUT_ENV}={value!r}: must be a positive number')):
        fetch_weights(closed_port_url('x.pdparams'))


def test_killed_download_leaves_nothing_after_the_next(torch_home,
                                                        tiny_pdparams):
    """SIGKILL during a download, then a download that completes: the cache
    holds the weights file alone (torch.hub's own ``.<uuid>.partial`` of
    the killed download stayed there for good)."""
    body, _ = tiny_pdparams
    name = 'PPLCNetV2_small_pretrained.pdparams'
    folder = torch_home / 'hub' / 'checkpoints'
    env = tool_env(TORCH_HOME=str(torch_home))
    with serve({f'/{name}': body}, seconds=120) as (base, requests):
        child = subprocess.Popen(
            [sys.executable, '-c', 'import sys; from mmlcnetv2.converters.'
             'download import fetch_weights; fetch_weights(sys.argv[1])',
             f'{base}/stall/{name}'], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            # Killed once half the body is on disk.
            while time.time() < deadline and not any(
                    osp.getsize(f) >= len(body) // 2
                    for f in _cache_files(torch_home)):
                assert child.poll() is None
                time.sleep(0.05)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert _cache_files(torch_home)  # the precondition: a leftover
        url = f'{base}/{name}'
        assert fetch_weights(url) == str(folder / name)
    assert _cache_files(torch_home) == [str(folder / name)]


# ------------------------------------------------------- Hugging Face hub
def _plant_in_hf_cache(repo, body, commit='0123456789abcdef' * 2 + '0' * 8):
    """Lay out ``repo``'s ``model.safetensors`` in the Hugging Face cache as
    ``hf_hub_download`` leaves it (blob, snapshot link, refs/main)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name
    folder = osp.join(constants.HF_HUB_CACHE,
                      repo_folder_name(repo_id=repo, repo_type='model'))
    for sub in ('blobs', 'refs', f'snapshots/{commit}'):
        os.makedirs(osp.join(folder, sub), exist_ok=True)
    with open(osp.join(folder, 'blobs', 'etag0'), 'wb') as f:
        f.write(body)
    with open(osp.join(folder, 'refs', 'main'), 'w') as f:
        f.write(commit)
    os.symlink(osp.join('..', '..', 'blobs', 'etag0'),
               osp.join(folder, 'snapshots', commit, HUB_FILENAME))


@pytest.fixture
def hf_offline(tmp_path, monkeypatch):
    """huggingface_hub with its cache in tmp_path and HF_HUB_OFFLINE=1 (its
    constants are read at import, so they are set on the module too)."""
    from huggingface_hub import constants
    cache = str(tmp_path / 'hf' / 'hub')
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', cache)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    return cache


@pytest.mark.parametrize('spelling', ['timm/{}', 'hf-hub:timm/{}'])
def test_hub_id_reads_the_offline_cache(hf_offline, spelling):
    import safetensors.torch
    import timm
    torch.manual_seed(5)
    ref = randomize_bn(timm.create_model('lcnetv2_small', **TINY), seed=5)
    body = safetensors.torch.save(ref.state_dict())
    repo = 'timm/lcnetv2_small.paddle_in1k'
    _plant_in_hf_cache(repo, body)
    with log_lines() as lines:
        model = _backbone(spelling.format('lcnetv2_small.paddle_in1k'))
        model.init_weights()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        theirs = ref.eval().forward_intermediates(x, intermediates_only=True)
        ours = model.eval()(x)
    for o, t in zip(ours, theirs):
        assert torch.equal(o, t)
    assert any(f'Hugging Face {repo} -> {hf_offline}' in line
               for line in lines)


def test_hub_id_missing_offline_is_one_line(hf_offline):
    repo = 'timm/lcnetv2_base.ssld_in1k'
    with pytest.raises(WeightsDownloadError) as info:
        _backbone(repo, arch='base').init_weights()
    msg = str(info.value)
    assert '\n' not in msg
    assert f'cannot get {HUB_FILENAME} of Hugging Face repo {repo} ' \
        '(HF_HUB_OFFLINE is set)' in msg
    assert f'Hugging Face cache {hf_offline}' in msg
    assert f'`hf download {repo} {HUB_FILENAME}`' in msg


# ------------------------------------------------ mmpretrain's get_model
def test_get_model_pretrained_true_converts_the_published_file(torch_home):
    """The index's weights are PaddleClas's URL; a copy already in the
    torch.hub cache is what a first download leaves there (no request)."""
    import mmpretrain
    name = 'pplcnetv2-small_8xb256_in1k'
    url = mmpretrain.apis.ModelHub.get(name).weights
    assert url == PADDLECLAS + 'PPLCNetV2_small_pretrained.pdparams'
    body, _ = paddle_classifier('small', seed=2)
    cached = url_cache_path(url)
    os.makedirs(osp.dirname(cached))
    with open(cached, 'wb') as f:
        f.write(body)
    model = mmpretrain.get_model(name, pretrained=True)
    expected = load_weights(cached).state  # the converter's classifier
    state = model.state_dict()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    assert {k for k in state if not k.endswith('num_batches_tracked')} == {
        k for k in expected if not k.endswith('num_batches_tracked')}


# ------------------------------------------------------ tools/train.py
def _retina_options(data, checkpoint, work):
    """--cfg-options for configs/det/retinanet_lcnetv2.py on the shapes
    data: 96-pixel images, batch 2, one epoch of 2 iterations, no
    validation."""
    classes = '(circle,square,triangle,star)'
    options = [f'model.backbone.init_cfg.checkpoint={checkpoint}',
               'train_dataloader.batch_size=2',
               'train_dataloader.num_workers=0',
               'train_dataloader.persistent_workers=False',
               f'train_dataloader.dataset.data_root={data}/',
               'train_dataloader.dataset.ann_file='
               'annotations/instances_train.json',
               'train_dataloader.dataset.data_prefix.img=train/',
               f'train_dataloader.dataset.metainfo.classes={classes}',
               'model.bbox_head.num_classes=4',  # the classes' count
               'train_dataloader.dataset.pipeline.2.scale=(96,96)',
               'train_cfg.max_epochs=1',
               'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
               'default_hooks.logger.interval=1']
    return ['tools/train.py', RETINA, '--work-dir', work, '--cfg-options',
            *options]


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    data = str(tmp_path_factory.mktemp('shapes') / 'shapes')
    make_shapes(data, num_train=4, num_val=2, img_size=96, max_objects=3)
    return data


def test_train_offline_stops_before_training_in_one_line(
        tmp_path, torch_home, shapes):
    url = closed_port_url('PPLCNetV2_base_ssld_pretrained.pdparams')
    work = str(tmp_path / 'work')
    out = run_tool(_retina_options(shapes, url, work),
                   env=tool_env(TORCH_HOME=str(torch_home)))
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in out.stderr, out.stderr
    cached = str(torch_home / 'hub' / 'checkpoints' /
                 'PPLCNetV2_base_ssld_pretrained.pdparams')
    assert lines[0].startswith(f'error: cannot download {url} (')
    assert f'put the file at {cached}' in lines[0]
    assert _cache_files(torch_home) == []
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))


@pytest.mark.slow
def test_retinanet_trains_from_weights_fetched_over_http(
        tmp_path, torch_home, shapes):
    """tools/train.py configs/det/retinanet_lcnetv2.py with only the URL
    pointed at the loopback server: no manual step; the frozen stem and
    first stage (frozen_stages=1, norm_eval) end training with exactly the
    served weights."""
    name = 'PPLCNetV2_base_ssld_pretrained.pdparams'
    body, reference = paddle_classifier('base', seed=3)
    work = str(tmp_path / 'work')
    with serve({f'/{name}': body}) as (base, requests):
        url = f'{base}/{name}'
        out = run_tool(_retina_options(shapes, url, work),
                       env=tool_env(TORCH_HOME=str(torch_home)), timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        assert requests == [f'/{name}']  # checked, then loaded: one request
    cached = str(torch_home / 'hub' / 'checkpoints' / name)
    log = open(next(osp.join(d, f) for d, _, fs in os.walk(work)
                    for f in fs if f.endswith('.log'))).read()
    # Downloaded by the check before the Runner (printed), then read from
    # the cache by the Runner's weight init (in the run's log).
    assert f'downloaded {url} (' in out.stdout + out.stderr
    assert f'{url} is cached at {cached}' in log
    assert f'into PPLCNetV2 from {cached}: pickle file, a PaddleClas' in log
    trained = torch.load(osp.join(work, 'epoch_1.pth'))['state_dict']
    frozen = [k for k in reference.state_dict()
              if k.startswith(('stem.', 'stages.0.'))
              and not k.endswith('num_batches_tracked')]
    assert frozen
    for key in frozen:
        assert torch.equal(trained['backbone.' + key],
                           reference.state_dict()[key]), key
