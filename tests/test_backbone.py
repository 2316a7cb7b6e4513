"""Unit tests of the PPLCNetV2 backbone (shapes, freezing, cp, deploy, errors)."""
import copy
import warnings

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmlcnetv2.models import PPLCNetV2
from mmlcnetv2.models.backbones.pplcnetv2 import RepDepthwise
from mmlcnetv2.utils.batchnorm import randomize_bn

# Stage widths per arch, from the reference's make_divisible(C * 2 * scale).
STAGE_CHANNELS = {
    'small': (96, 192, 384, 768),
    'base': (128, 256, 512, 1024),
    'large': (160, 320, 640, 1280),
}
STRIDES = (4, 8, 16, 32)


def check_norm_state(modules, train_state):
    return all(m.training == train_state for m in modules
               if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('arch', ['small', 'base', 'large'])
def test_stage_channels_and_strides(arch):
    model = PPLCNetV2(arch, out_indices=(0, 1, 2, 3)).eval()
    assert tuple(model.out_channels) == STAGE_CHANNELS[arch]
    h, w = 64, 96
    with torch.no_grad():
        outs = model(torch.rand(1, 3, h, w))
    assert len(outs) == 4
    for out, c, s in zip(outs, STAGE_CHANNELS[arch], STRIDES):
        assert tuple(out.shape) == (1, c, h // s, w // s)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('out_indices,expected', [
    (3, (3, )), ((1, ), (1, )), ((-1, ), (3, )), ((0, -2), (0, 2)),
    ([2, 3], (2, 3))])
def test_out_indices(out_indices, expected):
    model = PPLCNetV2('small', out_indices=out_indices).eval()
    assert model.out_indices == expected
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [
        STAGE_CHANNELS['small'][i] for i in expected]


def test_odd_input_size():
    model = PPLCNetV2('small', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 67, 45))
    # Every stride-2 conv has padding (k-1)//2: ceil halving.
    assert [tuple(o.shape[2:]) for o in outs] == [(17, 12), (9, 6), (5, 3),
                                                  (3, 2)]


# Freezing applies to pretrained weights only (test_from_scratch.py); the
# file is named, not read: init_weights() is not called.
PRETRAINED = dict(type='Pretrained', checkpoint='pplcnetv2-small.pth',
                  prefix='backbone.')


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 4])
def test_frozen_stages(frozen_stages):
    model = PPLCNetV2('small', frozen_stages=frozen_stages,
                      init_cfg=PRETRAINED)
    model.train()
    frozen = [] if frozen_stages < 0 else [model.stem] + list(
        model.stages[:frozen_stages])
    trainable = [m for m in [model.stem, *model.stages] if
                 all(m is not f for f in frozen)]
    for module in frozen:
        assert check_norm_state(module.modules(), False)
        assert all(not p.requires_grad for p in module.parameters())
    for module in trainable:
        assert check_norm_state(module.modules(), True)
        assert all(p.requires_grad for p in module.parameters())


def test_norm_eval_keeps_every_bn_in_eval_including_stem():
    model = PPLCNetV2('small', norm_eval=True, init_cfg=PRETRAINED)
    model.train()
    assert check_norm_state(model.modules(), False)
    assert model.stem[0].bn.training is False
    assert all(p.requires_grad for p in model.parameters())
    model.eval().train(True)
    assert check_norm_state(model.modules(), False)


def test_with_cp_same_output_and_gradients():
    torch.manual_seed(0)
    model = PPLCNetV2('small', out_indices=(1, 3))
    model_cp = PPLCNetV2('small', out_indices=(1, 3), with_cp=True)
    model_cp.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for m in (model, model_cp):
        m.train()
        outs = m(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
        assert m.stages[0][0].with_cp is (m is model_cp)
    for a, b in zip(model(x), model_cp(x)):
        torch.testing.assert_close(a, b)
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name],
                                   msg=name)


@pytest.mark.parametrize('deploy', [False, True])
def test_backward_reaches_every_parameter(deploy):
    model = PPLCNetV2('small', out_indices=(0, 1, 2, 3), deploy=deploy)
    model.train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


@pytest.mark.parametrize('arch', ['small', 'base', 'large'])
def test_switch_to_deploy_is_exact_and_deletes_branches(arch):
    torch.manual_seed(0)
    model = PPLCNetV2(arch, out_indices=(0, 1, 2, 3))
    randomize_bn(model)
    model.eval()
    x = torch.rand(1, 3, 96, 80)
    with torch.no_grad():
        before = model(x)
        n_rep = sum(isinstance(m, RepDepthwise) for m in model.modules())
        model.switch_to_deploy()
        after = model(x)
    assert n_rep > 0
    assert model.deploy
    for m in model.modules():
        if isinstance(m, RepDepthwise):
            assert m.deploy and not hasattr(m, 'dw_branches')
            assert m.dw_reparam.bias is not None
    assert not any('dw_branches' in k for k in model.state_dict())
    for a, b in zip(before, after):
        assert (a - b).abs().max() <= 1e-4 * a.abs().max()
    # Idempotent.
    state = copy.deepcopy(model.state_dict())
    model.switch_to_deploy()
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])


def test_deploy_state_dict_round_trip():
    model = PPLCNetV2('small', out_indices=(0, 1, 2, 3))
    randomize_bn(model)
    model.eval().switch_to_deploy()
    fused = PPLCNetV2('small', out_indices=(0, 1, 2, 3), deploy=True).eval()
    assert fused.state_dict().keys() == model.state_dict().keys()
    fused.load_state_dict(model.state_dict(), strict=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), fused(x)):
            assert torch.equal(a, b)


def test_unfused_checkpoint_into_deploy_model_is_fused_on_load():
    model = PPLCNetV2('small', out_indices=(2, 3))
    randomize_bn(model)
    model.eval()
    fused = PPLCNetV2('small', out_indices=(2, 3), deploy=True).eval()
    result = fused.load_state_dict(model.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), fused(x)):
            assert (a - b).abs().max() <= 1e-4 * a.abs().max()


def test_fused_checkpoint_into_unfused_model_fails_clearly():
    fused = PPLCNetV2('small', deploy=True)
    model = PPLCNetV2('small')
    with pytest.raises(RuntimeError, match='deploy=True'):
        model.load_state_dict(fused.state_dict())


def test_switch_to_deploy_refuses_syncbn():
    model = PPLCNetV2('small', norm_cfg=dict(type='SyncBN'))
    with pytest.raises(RuntimeError, match='revert_sync_batchnorm'):
        model.switch_to_deploy()
    assert not model.deploy


def test_hswish_activation_keeps_relu_in_plain_depthwise():
    from mmcv.cnn import build_activation_layer
    hswish = type(build_activation_layer(dict(type='HSwish')))
    model = PPLCNetV2('small', act_cfg=dict(type='HSwish'))
    assert isinstance(model.stem[0].activate, hswish)
    assert isinstance(model.stages[0][0].dw_conv.activate, torch.nn.ReLU)
    assert isinstance(model.stages[0][0].pw_conv.activate, hswish)
    assert isinstance(model.stages[2][0].dw_conv.act, hswish)
    assert isinstance(model.stages[2][0].se.conv1.activate, hswish)
    assert isinstance(model.stages[2][0].se.conv2.activate, torch.nn.Sigmoid)
    with torch.no_grad():
        out, = model.eval()(torch.rand(1, 3, 64, 64))
    assert torch.isfinite(out).all()


def test_custom_arch_dict():
    model = PPLCNetV2(dict(scale=0.5, depths=[1, 1, 2, 1]),
                      out_indices=(0, 1, 2, 3))
    assert [len(s) for s in model.stages] == [1, 1, 2, 1]
    assert tuple(model.out_channels) == (64, 128, 256, 512)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(arch='tiny'), ValueError, r"Unknown arch 'tiny'.*'base'"),
    (dict(arch=1.0), TypeError, 'arch must be a str or a dict'),
    (dict(arch=dict(scale=1.0)), ValueError, 'exactly the keys'),
    (dict(arch=dict(scale=1.0, depths=[2, 2], x=1)), ValueError,
     'exactly the keys'),
    (dict(arch=dict(scale=1.0, depths=[2, 2, 6])), ValueError,
     r'4 positive ints.*\[2, 2, 6\]'),
    (dict(arch=dict(scale=-1, depths=[2, 2, 6, 2])), ValueError,
     'positive number, got -1'),
    (dict(out_indices=4), ValueError, r'entry 4 is out of range.*0\.\.3'),
    (dict(out_indices=(0, -5)), ValueError, 'entry -5 is out of range'),
    (dict(out_indices=()), TypeError, 'non-empty'),
    (dict(out_indices='3'), TypeError, 'out_indices must be'),
    (dict(frozen_stages=5), ValueError, r'frozen_stages.*-1\.\.4.*got 5'),
    (dict(frozen_stages=-2), ValueError, 'got -2'),
    (dict(in_channels=0), ValueError, 'in_channels must be a positive'),
    # A truthy string must not switch the behaviour on silently.
    (dict(norm_eval='maybe'), ValueError,
     "norm_eval must be True or False, got 'maybe'"),
    (dict(with_cp='False'), ValueError, "with_cp must be .*got 'False'"),
    (dict(deploy=1), ValueError, 'deploy must be True or False, got 1'),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PPLCNetV2(**kwargs)


def test_wrong_input_channels():
    model = PPLCNetV2('small')
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\), got \(1, 1, 32, 32\)'):
        model(torch.rand(1, 1, 32, 32))
    model = PPLCNetV2('small', in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 1, 32, 32))[0].shape[1] == 768


def test_tracing_does_not_warn_about_the_input_check():
    # OpenVINO's convert_model traces the model; the input check must not
    # add a TracerWarning to the export's output.
    model = PPLCNetV2('small').eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        traced = torch.jit.trace(model, torch.rand(1, 3, 64, 64))
    tracer = [w for w in caught
              if issubclass(w.category, torch.jit.TracerWarning)]
    assert tracer == [], [str(w.message) for w in tracer]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(traced(x)[0], model(x)[0])
