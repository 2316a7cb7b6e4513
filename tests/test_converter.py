"""The Paddle weight converter: safe reading, key mapping, bad files."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmlcnetv2.converters import (PaddleWeightsError, convert_paddle_checkpoint,
                                  load_pdparams)
from mmlcnetv2.converters.paddle import PADDLE_NAME_TABLE


class _RunsShell:
    """Unpickling this would run a shell command."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


def test_refuses_other_globals_and_executes_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    bad = tmp_path / 'bad.pdparams'
    bad.write_bytes(pickle.dumps({'w': _RunsShell(str(marker))}, protocol=4))
    with pytest.raises(PaddleWeightsError, match='refusing to load .*system'):
        load_pdparams(str(bad))
    assert not marker.exists()


def test_reads_numpy2_and_numpy1_pickles(tmp_path):
    state = {'a.weight': np.arange(6, dtype='float32').reshape(2, 3),
             'b.bias': np.ones(3, dtype='float32'),
             PADDLE_NAME_TABLE: {'a.weight': 'conv2d_0.w_0'}}
    new = tmp_path / 'np2.pdparams'
    new.write_bytes(pickle.dumps(state, protocol=4))
    assert b'numpy._core' in new.read_bytes() or b'numpy.core' in \
        new.read_bytes()
    # A numpy 1.x file names numpy.core.multiarray; protocol 0 is text, so
    # the module name can be rewritten without breaking the framing.
    old = tmp_path / 'np1.pdparams'
    old.write_bytes(pickle.dumps(state, protocol=0).replace(
        b'numpy._core.multiarray', b'numpy.core.multiarray'))
    assert b'numpy.core.multiarray' in old.read_bytes()
    for path in (new, old):
        loaded = load_pdparams(str(path))
        assert sorted(loaded) == ['a.weight', 'b.bias']  # name table dropped
        np.testing.assert_array_equal(loaded['a.weight'], state['a.weight'])


@pytest.mark.parametrize('payload,match', [
    (b'not a pickle at all', 'not a readable .pdparams'),
    (pickle.dumps([1, 2, 3], protocol=4), 'holds a list'),
    (pickle.dumps({'w': 3}, protocol=4), "entry 'w' is a int"),
])
def test_bad_files(tmp_path, payload, match):
    path = tmp_path / 'x.pdparams'
    path.write_bytes(payload)
    with pytest.raises(PaddleWeightsError, match=match):
        load_pdparams(str(path))


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='nope.pdparams'):
        load_pdparams('nope.pdparams')


@pytest.fixture(scope='module')
def base_pdparams(tmp_path_factory):
    from reference import build_reference
    paddle, model = build_reference('base')
    path = tmp_path_factory.mktemp('pd') / 'PPLCNetV2_base.pdparams'
    paddle.save(model.state_dict(), str(path))
    return path


@pytest.mark.reference
def test_wrong_arch_names_first_mismatches(base_pdparams, tmp_path):
    dst = tmp_path / 'out.pth'
    with pytest.raises(PaddleWeightsError) as info:
        convert_paddle_checkpoint(str(base_pdparams), str(dst), 'small')
    msg = str(info.value)
    # The shapes are exactly base's: say so, name the first differences.
    assert "is a PPLCNetV2 'base', not 'small'" in msg
    assert 'stem.0.conv.weight (32, 3, 3, 3) vs (24, 3, 3, 3)' in msg
    assert msg.endswith('Use --arch base.')
    assert not dst.exists()  # nothing half-written


@pytest.mark.reference
def test_cli_converts_and_checkpoint_loads_strictly(base_pdparams, tmp_path):
    dst = tmp_path / 'sub' / 'pplcnetv2-base.pth'
    out = subprocess.run(
        [sys.executable, 'tools/convert_paddle_weights.py',
         str(base_pdparams), str(dst), '--arch', 'base'],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '1000 classes' in out.stdout
    ckpt = torch.load(dst, weights_only=True)
    sd = ckpt['state_dict']
    assert sd['head.fc.weight'].shape == (1000, 1280)
    assert sd['head.expand.weight'].shape == (1280, 1024)
    assert not any('dw_conv.weight' in k for k in sd)  # Paddle's unused conv
    # The same file initialises a detection/segmentation backbone.
    from mmlcnetv2.models import PPLCNetV2
    backbone = PPLCNetV2('base', out_indices=(1, 2, 3))
    prefix = 'backbone.'
    result = backbone.load_state_dict(
        {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)},
        strict=True)
    assert not result.missing_keys


@pytest.mark.reference
def test_cli_reports_bad_arch_without_traceback(base_pdparams, tmp_path):
    out = subprocess.run(
        [sys.executable, 'tools/convert_paddle_weights.py',
         str(base_pdparams), str(tmp_path / 'o.pth'), '--arch', 'large'],
        capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith(
        "error: the file is a PPLCNetV2 'base', not 'large'")
    assert 'Traceback' not in out.stderr and out.stderr.count('\n') == 1


# --------------------------------------------------- bad weights (issue 12.9)
def _run_paddle_tool(src, dst, arch='base'):
    return subprocess.run(
        [sys.executable, 'tools/convert_paddle_weights.py', str(src),
         str(dst), '--arch', arch], capture_output=True, text=True)


def _edited_copy(src, tmp_path, edit):
    state = load_pdparams(str(src))
    edit(state)
    path = tmp_path / 'edited.pdparams'
    path.write_bytes(pickle.dumps(state, protocol=4))
    return path


@pytest.mark.reference
@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(
        base_pdparams, tmp_path, value):
    key = 'stages.2.1.pw_conv_1.bn._variance'

    def poison(state):
        state[key] = state[key].copy()
        state[key][3] = value
    src = _edited_copy(base_pdparams, tmp_path, poison)
    dst = tmp_path / 'out.pth'
    out = _run_paddle_tool(src, dst)
    assert out.returncode == 2, out.stdout
    assert 'non-finite' in out.stderr and key in out.stderr
    assert 'Traceback' not in out.stderr
    assert not dst.exists()


@pytest.mark.reference
def test_one_corrupted_tensor_is_not_blamed_on_the_arch(
        base_pdparams, tmp_path):
    key = 'stages.2.3.pw_conv_2.conv.weight'

    def truncate(state):
        state[key] = state[key][:-1]  # one output channel short
    src = _edited_copy(base_pdparams, tmp_path, truncate)
    out = _run_paddle_tool(src, tmp_path / 'out.pth')
    assert out.returncode == 2
    assert f'{key} (511, 256, 1, 1) vs (512, 256, 1, 1)' in out.stderr
    assert 'damaged' in out.stderr and '--arch' not in out.stderr
    assert 'Traceback' not in out.stderr


@pytest.mark.reference
def test_destination_directory_is_one_line(base_pdparams, tmp_path):
    out = _run_paddle_tool(base_pdparams, tmp_path)
    assert out.returncode == 2
    assert 'is a directory' in out.stderr and str(tmp_path) in out.stderr
    assert 'Traceback' not in out.stderr and out.stderr.count('\n') == 1
    assert os.listdir(tmp_path) == []  # no temporary file left


@pytest.mark.reference
def test_ssld_files_have_the_same_keys_and_convert(tmp_path):
    """PaddleClas's ``use_ssld`` only picks another URL
    (``*_ssld_pretrained.pdparams``) for the same network: same keys and
    shapes, so the distilled weights convert like the others."""
    from reference import import_paddle_reference
    paddle, pp_lcnet_v2 = import_paddle_reference()
    plain = pp_lcnet_v2.PPLCNetV2_base(pretrained=False).state_dict()
    ssld = pp_lcnet_v2.PPLCNetV2_base(pretrained=False,
                                      use_ssld=True).state_dict()
    assert {k: tuple(v.shape) for k, v in plain.items()} == {
        k: tuple(v.shape) for k, v in ssld.items()}
    src = tmp_path / 'PPLCNetV2_base_ssld_pretrained.pdparams'
    paddle.save(ssld, str(src))
    out = _run_paddle_tool(src, tmp_path / 'ssld.pth')
    assert out.returncode == 0, out.stderr
    assert 'paddle layout' in out.stdout


# ------------------------------------------- timm / Hugging Face files
@pytest.fixture(scope='module')
def timm_small(tmp_path_factory):
    import safetensors.torch
    import timm
    torch.manual_seed(0)
    state = timm.create_model('lcnetv2_small').state_dict()
    path = tmp_path_factory.mktemp('timm') / 'model.safetensors'
    safetensors.torch.save_file(state, str(path))
    return state, path


def _convert_tool(*args):
    return subprocess.run(
        [sys.executable, 'tools/convert_weights.py', *map(str, args)],
        capture_output=True, text=True)


@pytest.mark.parametrize('wrap', ['plain', 'state_dict', 'model', 'module'])
def test_timm_pth_with_or_without_wrapper_and_module_prefix(
        timm_small, tmp_path, wrap):
    from mmlcnetv2.converters import load_weights
    state, safetensors_file = timm_small
    wrapped = {
        'plain': state,
        'state_dict': {'state_dict': state, 'epoch': 3},
        'model': {'model': state},
        'module': {'state_dict': {f'module.{k}': v for k, v in state.items()}},
    }[wrap]
    path = tmp_path / 'pytorch_model.bin'
    torch.save(wrapped, path)
    ours, reference = load_weights(str(path)), load_weights(
        str(safetensors_file))
    assert ours.source == 'timm' and ours.fmt == 'torch zip'
    assert ours.state.keys() == reference.state.keys()
    assert all(torch.equal(ours.state[k], reference.state[k])
               for k in ours.state)


def test_auto_says_what_it_decided(timm_small, tmp_path):
    _, src = timm_small
    out = _convert_tool(src, tmp_path / 'o.pth', '--arch', 'small')
    assert out.returncode == 0, out.stderr
    assert 'safetensors file, timm layout (detected)' in out.stdout
    out = _convert_tool(src, tmp_path / 'p.pth', '--arch', 'small',
                        '--from', 'paddle')
    assert out.returncode == 2
    assert 'is not a paddle file' in out.stderr and '--from timm' in \
        out.stderr
    assert not (tmp_path / 'p.pth').exists()


def test_timm_file_of_another_arch_names_it(timm_small, tmp_path):
    _, src = timm_small
    out = _convert_tool(src, tmp_path / 'o.pth', '--arch', 'large')
    assert out.returncode == 2
    assert "is a PPLCNetV2 'small', not 'large'" in out.stderr
    assert 'Use --arch small.' in out.stderr
    assert not (tmp_path / 'o.pth').exists()


def test_another_network_is_refused(tmp_path):
    import safetensors.torch
    import timm
    # PP-LCNet v1: timm head names (conv_head, classifier), other body.
    v1 = tmp_path / 'lcnet.safetensors'
    safetensors.torch.save_file(timm.create_model('lcnet_050').state_dict(),
                                str(v1))
    other = tmp_path / 'other.pth'
    torch.save({'conv1.weight': torch.zeros(8, 3, 3, 3)}, other)
    for path, match in ((v1, 'not a PPLCNetV2 checkpoint'),
                        (other, 'not a PPLCNetV2 checkpoint')):
        out = _convert_tool(path, tmp_path / 'o.pth', '--arch', 'small')
        assert out.returncode == 2 and match in out.stderr, out.stderr
        assert 'Traceback' not in out.stderr
    assert not (tmp_path / 'o.pth').exists()


@pytest.mark.parametrize('fmt', ['safetensors', 'pth'])
def test_truncated_file(timm_small, tmp_path, fmt):
    state, src = timm_small
    if fmt == 'pth':
        src = tmp_path / 'full.pth'
        torch.save(state, src)
    data = src.read_bytes()
    cut = tmp_path / f'cut.{fmt}'
    cut.write_bytes(data[:len(data) // 2])
    out = _convert_tool(cut, tmp_path / 'o.pth', '--arch', 'small')
    assert out.returncode == 2
    assert 'truncated' in out.stderr and str(cut) in out.stderr
    assert 'Traceback' not in out.stderr
    assert not (tmp_path / 'o.pth').exists()


def test_pth_carrying_code_executes_nothing(timm_small, tmp_path):
    state, _ = timm_small
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': state, 'x': _RunsShell(str(marker))}, path)
    out = _convert_tool(path, tmp_path / 'o.pth', '--arch', 'small')
    assert out.returncode == 2
    assert 'refusing' in out.stderr and 'nothing from it was executed' in \
        out.stderr
    assert 'weights_only=False' not in out.stderr  # torch's unsafe hint
    assert not marker.exists() and not (tmp_path / 'o.pth').exists()
