"""ChannelsLastHook: the network computes channels-last, and nothing but the
memory layout changes (same training, checkpoints that load anywhere)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmpretrain.registry import MODELS

import mmlcnetv2  # noqa: F401
from helpers import one_thread, tiny_model_cfg, tiny_runner_cfg  # noqa: F401

CHANNELS_LAST = torch.channels_last


def _train(work_dir: str, hooks: list) -> Runner:
    cfg = tiny_runner_cfg(work_dir, max_iters=3, custom_hooks=hooks)
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return runner


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    nchw = _train(str(tmp_path_factory.mktemp('nchw')), [])
    nhwc = _train(str(tmp_path_factory.mktemp('nhwc')),
                  [dict(type='ChannelsLastHook')])
    return nchw, nhwc


def _features(model, x):
    with torch.no_grad():
        return model.eval().backbone(x)[-1]


def test_the_whole_network_computes_channels_last(runs):
    nchw, nhwc = runs
    x = torch.randn(2, 3, 64, 64)  # plain NCHW, as the data preprocessor
    plain = _features(nchw.model, x)
    assert plain.shape[1] > 1 and plain.shape[2] > 1  # layouts differ
    assert not plain.is_contiguous(memory_format=CHANNELS_LAST)
    converted = _features(nhwc.model, x)
    assert converted.is_contiguous(memory_format=CHANNELS_LAST)
    assert not converted.is_contiguous()
    stem = nhwc.model.backbone.stem[0].conv.weight  # 3x3 over 3 channels
    assert stem.is_contiguous(memory_format=CHANNELS_LAST)
    assert not stem.is_contiguous()


def test_training_is_the_same_but_for_rounding(runs):
    nchw, nhwc = runs
    a, b = nchw.model.state_dict(), nhwc.model.state_dict()
    assert a.keys() == b.keys()
    # the comparison means something: training moved the weights
    first = torch.load(osp.join(nchw.work_dir, 'iter_1.pth'))['state_dict']
    assert any(not torch.equal(a[k], first[k]) for k in a)
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5,
                                   msg=key)


def test_its_checkpoint_loads_into_a_plain_model(runs):
    _, nhwc = runs
    ckpt = osp.join(nhwc.work_dir, 'iter_3.pth')
    plain = MODELS.build(tiny_model_cfg())
    load_checkpoint(plain, ckpt, map_location='cpu')
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(
        _features(plain, x), _features(nhwc.model, x), rtol=1e-5, atol=1e-6)
    assert next(plain.parameters()).is_contiguous()
