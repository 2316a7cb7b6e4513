"""``init_cfg=dict(type='Pretrained', ...)`` on PPLCNetV2 takes the file a
user downloaded (timm ``.safetensors``/``.pth``, PaddleClas ``.pdparams``,
a converted ``.pth``), converting it while loading; files that do not fit
fail before training, naming the file and the first mismatches."""
import logging
import os
import os.path as osp

import pytest
import safetensors.torch
import timm  # requirements/tests.txt pins 1.0.31
import torch

from mmlcnetv2.cli.checks import check_before_run
from mmlcnetv2.converters import WeightsError, convert_weights
from mmlcnetv2.errors import UserInputError
from mmlcnetv2.models import PPLCNetV2
from mmlcnetv2.utils.batchnorm import randomize_bn
from helpers import log_lines

# The detection test's tiny backbone; timm builds the same one from kwargs.
TINY = dict(scale=0.25, depths=(1, 1, 1, 1))


def _timm_file(tmp_path, fmt='safetensors', arch='lcnetv2_small', **kw):
    torch.manual_seed(3)
    ref = timm.create_model(arch, **kw)
    randomize_bn(ref, seed=4)
    path = tmp_path / f'model.{fmt}'
    if fmt == 'safetensors':
        safetensors.torch.save_file(ref.state_dict(), str(path))
    else:
        torch.save(ref.state_dict(), path)
    return ref.eval(), str(path)


def _pretrained(path, **backbone):
    backbone.setdefault('arch', 'small')
    return PPLCNetV2(out_indices=(0, 1, 2, 3), init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='backbone.'), **backbone)


@pytest.mark.parametrize('fmt', ['safetensors', 'pth'])
def test_timm_file_initialises_the_backbone(tmp_path, fmt):
    ref, path = _timm_file(tmp_path, fmt)
    model = _pretrained(path)
    model.init_weights()
    model.eval()
    x = torch.randn(1, 3, 96, 80)
    with torch.no_grad():
        theirs = ref.forward_intermediates(x, intermediates_only=True)
        ours = model(x)
    for o, t in zip(ours, theirs):
        assert torch.equal(o, t)


def test_converted_checkpoint_and_fused_backbone(tmp_path):
    """Our converted file loads the same; a deploy backbone fuses while
    loading."""
    ref, path = _timm_file(tmp_path)
    converted = str(tmp_path / 'converted.pth')
    convert_weights(path, converted, 'small')
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        theirs = ref.forward_intermediates(x, intermediates_only=True)[-1]
    for checkpoint, deploy in ((converted, False), (path, True)):
        model = _pretrained(checkpoint, deploy=deploy)
        model.init_weights()
        with torch.no_grad():
            ours = model.eval()(x)[-1]
        assert float((ours - theirs).abs().max()) <= 1e-4 * float(
            theirs.abs().max())


def test_the_load_is_logged(tmp_path):
    _, path = _timm_file(tmp_path)
    with log_lines() as records:
        _pretrained(path).init_weights()
    msg = [r for r in records if 'init_cfg Pretrained' in r]
    assert msg and path in msg[0] and 'timm' in msg[0]
    assert 'converted from its layout' in msg[0]


@pytest.mark.parametrize('case', ['other arch', 'other network', 'unknown'])
def test_files_that_do_not_fit_fail_naming_file_and_tensors(tmp_path, case):
    if case == 'other arch':
        _, path = _timm_file(tmp_path, arch='lcnetv2_base')
        match = r'model\.safetensors.*shapes.*stem\.0\.conv\.weight'
    elif case == 'other network':
        path = str(tmp_path / 'resnet.safetensors')
        safetensors.torch.save_file(
            {'conv1.weight': torch.zeros(4, 3, 3, 3)}, path)
        match = r'resnet\.safetensors.* not a PPLCNetV2 checkpoint'
    else:
        path = str(tmp_path / 'weights.npz')
        with open(path, 'wb') as f:
            f.write(b'\x93NUMPY not a weights file')
        match = r'weights\.npz'
    model = _pretrained(path)
    with pytest.raises(WeightsError, match=match):
        model.init_weights()


# ------------------------------------------------ from a detection config
def _det_cfg(tmp_path, checkpoint):
    from test_det_train import custom_cfg
    from mmlcnetv2.datasets.generate.shapes import make_shapes
    data = str(tmp_path / 'shapes')
    make_shapes(data, num_train=4, num_val=2, img_size=96, max_objects=3)
    cfg = custom_cfg(data, str(tmp_path / 'work'))
    cfg.model.backbone.arch = dict(TINY, depths=list(TINY['depths']))
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
    return cfg


@pytest.mark.slow
def test_detection_config_from_timm_safetensors_trains(tmp_path):
    from mmengine.runner import Runner
    ref, path = _timm_file(tmp_path, 'safetensors', **TINY)
    cfg = _det_cfg(tmp_path, path)
    check_before_run(cfg, training=True)  # what tools/train.py does first
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert osp.isfile(osp.join(cfg.work_dir, 'iter_2.pth'))
    logs = [osp.join(d, f) for d, _, fs in os.walk(
        cfg.work_dir) for f in fs if f.endswith('.log')]
    log = open(logs[0]).read()
    assert f'from {path}: safetensors file, a timm' in log


def test_detection_config_with_other_arch_fails_before_training(tmp_path):
    _, path = _timm_file(tmp_path, 'safetensors')  # small, config is tiny
    cfg = _det_cfg(tmp_path, path)
    with pytest.raises(UserInputError) as info:
        check_before_run(cfg, training=True)
    msg = str(info.value)
    assert 'model.backbone.init_cfg (Pretrained)' in msg and path in msg
    assert ('dw_conv.conv.weight: checkpoint (48, 1, 3, 3), model '
            '(16, 1, 3, 3)') in msg


def test_loading_logs_one_summary_not_a_line_per_tensor(tmp_path):
    """A whole classifier whose backbone loads a planted file through
    ``init_cfg`` Pretrained: one line says how many tensors came from the
    file and lists the unexpected key; mmengine's per-parameter record
    ("The value is the same before and after calling `init_weights`", three
    lines per parameter) is summed up in one line."""
    from mmpretrain.registry import MODELS

    from helpers import tiny_model_cfg
    cfg = tiny_model_cfg()
    donor = PPLCNetV2(**{k: v for k, v in cfg['backbone'].items()
                         if k != 'type'})
    randomize_bn(donor, seed=5)
    state = {f'backbone.{k}': v for k, v in donor.state_dict().items()}
    state['backbone.extra.weight'] = torch.ones(2)
    path = str(tmp_path / 'planted.pth')
    torch.save(dict(state_dict=state), path)
    cfg['backbone']['init_cfg'] = dict(type='Pretrained', checkpoint=path,
                                       prefix='backbone.')
    model = MODELS.build(dict(cfg, _scope_='mmpretrain'))
    with log_lines(logging.INFO) as records:  # what the console shows
        model.init_weights()
    lines = [line for r in records for line in r.splitlines()
             if line.strip()]
    assert not [line for line in lines if 'is the same before and after'
                in line], lines[:6]
    assert len(lines) <= 3, "\n".join(lines[:6])
    loaded = [line for line in lines if 'init_cfg Pretrained' in line]
    n = len(donor.state_dict())
    assert len(loaded) == 1 and f'loaded {n} tensors into PPLCNetV2 from ' \
        f'{path}' in loaded[0], lines
    assert 'unexpected (not used): 1: extra.weight' in loaded[0]
    # the summary counts the backbone's parameters as loaded from the file
    params = len(dict(donor.named_parameters()))
    summary = [line for line in lines if line.startswith('init_weights of')]
    assert len(summary) == 1 and f'{params} loaded from {path}' in \
        summary[0], lines
    for k, v in donor.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v), k
