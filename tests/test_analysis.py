"""Model counts pinned to the reference, and the analysis/fusion tools."""
import subprocess
import sys

import pytest
import torch

from mmlcnetv2.apis import build_model, load_config, reparameterize
from mmlcnetv2.apis.complexity import count_flops, count_params

CONFIG = 'configs/cls/pplcnetv2-{}_8xb256_in1k.py'
DEPLOY = 'configs/cls/deploy/pplcnetv2-{}_deploy_8xb256_in1k.py'

# Executed parameters of the reference (paddle), re-parameterized, with the
# classification head; see shared/reference/pplcnetv2.md.
FUSED_PARAMS = {'small': 4_092_840, 'base': 6_624_232, 'large': 10_444_200}
# paddle.flops of the re-parameterized reference at 224x224.
FUSED_FLOPS = {'small': 287.6e6, 'base': 604.5e6, 'large': 1096.7e6}
UNFUSED_BASE_PARAMS = 6_687_208


@pytest.mark.parametrize('arch', ['small', 'base', 'large'])
def test_fused_params_and_flops_match_reference(arch):
    model = build_model(load_config(DEPLOY.format(arch)))
    assert count_params(model) == FUSED_PARAMS[arch]
    flops = count_flops(model, (224, 224))
    assert abs(flops / FUSED_FLOPS[arch] - 1) <= 0.02, flops


def test_unfused_base_params():
    model = build_model(load_config(CONFIG.format('base')))
    assert count_params(model) == UNFUSED_BASE_PARAMS


def test_get_flops_cli():
    out = subprocess.run(
        [sys.executable, 'tools/analysis/get_flops.py',
         CONFIG.format('base'), '--deploy', '--shape', '224', '224'],
        capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'params: 6,624,232' in out.stdout
    flops = float(out.stdout.split('FLOPs:')[1].split('M')[0])
    assert abs(flops / 604.5 - 1) <= 0.02


def test_get_flops_cli_missing_config():
    out = subprocess.run(
        [sys.executable, 'tools/analysis/get_flops.py', 'nope.py'],
        capture_output=True, text=True)
    assert out.returncode == 2  # bad input (README: exit status)
    assert "Config file not found: 'nope.py'" in out.stderr


def test_reparameterize_tool_output_loads_into_deploy_config(tmp_path):
    cfg = load_config(CONFIG.format('small'))
    model = build_model(cfg)
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 1.5)
            m.running_mean.normal_(0, 0.1)
    ckpt = tmp_path / 'small.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out_path = tmp_path / 'small_deploy.pth'
    out = subprocess.run(
        [sys.executable, 'tools/reparameterize.py', CONFIG.format('small'),
         str(ckpt), str(out_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    fused = build_model(load_config(DEPLOY.format('small')), str(out_path))
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        a = model(x, mode='tensor')
        b = fused(x, mode='tensor')
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()
    # And the reverse direction fails with a message that says what to do.
    with pytest.raises(RuntimeError, match='deploy=True'):
        build_model(load_config(CONFIG.format('small')), str(out_path))


def test_reparameterize_reuses_switch_to_deploy():
    model = build_model(load_config(CONFIG.format('small')))
    assert reparameterize(model) > 0
    assert model.backbone.deploy
