"""Parity with the PaddleClas reference: same weights in, same logits out.

For each arch: build PaddleClas's model, randomize it, save ``.pdparams``,
convert with our converter, load into our config's model, and compare in
eval mode at 224x224 and at a non-square size that is not a multiple of 32.
"""
import numpy as np
import pytest
import torch

from mmlcnetv2.apis import build_model, load_config, reparameterize
from mmlcnetv2.converters import convert_paddle_checkpoint
from reference import build_reference, reference_outputs

pytestmark = [pytest.mark.reference, pytest.mark.slow]

SIZES = [(224, 224), (200, 150)]
CONFIG = 'configs/cls/pplcnetv2-{}_8xb256_in1k.py'


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.fixture(scope='module', params=['small', 'base', 'large'])
def converted(request, tmp_path_factory):
    arch = request.param
    paddle, ref = build_reference(arch, seed=1)
    tmp = tmp_path_factory.mktemp(f'parity-{arch}')
    pdparams = str(tmp / f'PPLCNetV2_{arch}.pdparams')
    paddle.save(ref.state_dict(), pdparams)
    ckpt = str(tmp / f'pplcnetv2-{arch}.pth')
    convert_paddle_checkpoint(pdparams, ckpt, arch)
    cfg = load_config(CONFIG.format(arch))
    cfg.model.backbone.out_indices = (0, 1, 2, 3)
    model = build_model(cfg, ckpt)  # strict: no missing/unexpected keys
    rng = np.random.default_rng(0)
    inputs = {s: rng.standard_normal((2, 3, *s)).astype('float32')
              for s in SIZES}
    refs = {s: reference_outputs(paddle, ref, x) for s, x in inputs.items()}
    return arch, model, inputs, refs


def our_outputs(model, x):
    with torch.no_grad():
        t = torch.from_numpy(x)
        feats = model.backbone(t)
        logits = model(t, mode='tensor')
    return logits.numpy(), [f.numpy() for f in feats]


@pytest.mark.parametrize('size', SIZES, ids=lambda s: f'{s[0]}x{s[1]}')
def test_logits_and_stage_features_match_paddle(converted, size):
    arch, model, inputs, refs = converted
    logits, feats = our_outputs(model, inputs[size])
    ref_logits, ref_feats = refs[size]
    assert logits.shape == ref_logits.shape
    err = rel_err(logits, ref_logits)
    print(f'{arch} {size} logits: max|diff|/max|ref| = {err:.2e}')
    assert err <= 1e-4
    for i, (f, r) in enumerate(zip(feats, ref_feats)):
        assert f.shape == r.shape, f'stage {i}'
        err = rel_err(f, r)
        print(f'{arch} {size} stage {i}: {err:.2e}')
        assert err <= 1e-4, f'stage {i}'


def test_fused_logits_match_paddle(converted):
    arch, model, inputs, refs = converted
    fused = build_model(load_config(CONFIG.format(arch)))
    fused.load_state_dict(model.state_dict())
    reparameterize(fused)
    assert not any('dw_branches' in k for k in fused.state_dict())
    for size in SIZES:
        logits, _ = our_outputs(fused, inputs[size])
        err = rel_err(logits, refs[size][0])
        print(f'{arch} {size} fused logits: {err:.2e}')
        assert err <= 1e-4
