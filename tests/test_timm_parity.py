"""Parity with timm 1.0.31's ``lcnetv2_*``: same weights in, same outputs.

For each arch: timm's model with randomized BN statistics and affine
parameters, saved as ``.safetensors`` and as a ``.pth`` (wrapped in
``state_dict`` with DataParallel's ``module.`` prefix), converted by
``tools/convert_weights.py``'s library function, loaded into our config
with ``strict=True`` and compared in eval mode at 224x224 and 200x168 (not
a multiple of 32): logits, fused logits and the four stage features
against timm's ``features_only=True`` model.
"""
import copy

import pytest
import safetensors.torch as safetensors_torch
import timm  # requirements/tests.txt pins 1.0.31
import torch

from mmlcnetv2.apis import build_model, load_config, reparameterize
from mmlcnetv2.converters import convert_weights
from mmlcnetv2.utils.batchnorm import randomize_bn

pytestmark = pytest.mark.slow

SIZES = [(224, 224), (200, 168)]
FORMATS = ['safetensors', 'pth']
CONFIG = 'configs/cls/pplcnetv2-{}_8xb256_in1k.py'
BOUND = 1e-4  # max |ours - timm| / max |timm|


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours - ref).abs().max() / ref.abs().max())


def save_timm(state: dict, path: str, fmt: str) -> None:
    if fmt == 'safetensors':
        safetensors_torch.save_file(state, path)
    else:  # what a training script or DataParallel leaves behind
        torch.save({'state_dict': {f'module.{k}': v
                                   for k, v in state.items()}}, path)


@pytest.fixture(scope='module', params=['small', 'base', 'large'])
def timm_model(request, tmp_path_factory):
    arch = request.param
    torch.manual_seed(0)
    ref = timm.create_model(f'lcnetv2_{arch}')
    randomize_bn(ref, seed=1)
    ref.eval()
    tmp = tmp_path_factory.mktemp(f'timm-{arch}')
    files = {}
    for fmt in FORMATS:
        files[fmt] = str(tmp / f'lcnetv2_{arch}.{fmt}')
        save_timm(ref.state_dict(), files[fmt], fmt)
    gen = torch.Generator().manual_seed(0)
    inputs = {s: torch.randn(1, 3, *s, generator=gen) for s in SIZES}
    with torch.no_grad():
        refs = {s: ref(x) for s, x in inputs.items()}
    ours = {fmt: ours_from(arch, files[fmt], str(tmp / f'ours_{fmt}.pth'))
            for fmt in FORMATS}
    return arch, ref, files, inputs, refs, tmp, ours


def ours_from(arch: str, src: str, ckpt: str):
    meta = convert_weights(src, ckpt, arch)['meta']
    assert meta['source_type'] == 'timm' and not meta['fused']
    cfg = load_config(CONFIG.format(arch))
    cfg.model.backbone.out_indices = (0, 1, 2, 3)
    return build_model(cfg, ckpt)  # strict=True: every key, every shape


@pytest.mark.parametrize('fmt', FORMATS)
def test_logits_match_timm_unfused_and_fused(timm_model, fmt):
    arch, _, _, inputs, refs, _, ours = timm_model
    model = copy.deepcopy(ours[fmt])
    with torch.no_grad():
        errs = [rel_err(model(inputs[s], mode='tensor'), refs[s])
                for s in SIZES]
        reparameterize(model)
        assert not any('dw_branches' in k for k in model.state_dict())
        errs += [rel_err(model(inputs[s], mode='tensor'), refs[s])
                 for s in SIZES]
    print(f'{arch} {fmt} logits 224, 200x168, fused 224, fused 200x168: '
          + ', '.join(f'{e:.1e}' for e in errs))
    assert max(errs) <= BOUND, errs


def test_stage_features_match_timm_features_only(timm_model):
    arch, ref, _, inputs, _, _, ours = timm_model
    feats_model = timm.create_model(f'lcnetv2_{arch}', features_only=True,
                                    out_indices=(0, 1, 2, 3))
    # features_only drops the head; the rest is the same module tree.
    missing, unexpected = feats_model.load_state_dict(
        {k.replace('stages.', 'stages_', 1).replace('stem.', 'stem_', 1): v
         for k, v in ref.state_dict().items()}, strict=False)
    assert not missing
    assert set(unexpected) <= {'conv_head.weight', 'classifier.weight',
                               'classifier.bias'}
    feats_model.eval()
    backbone = ours['safetensors'].backbone
    for size in SIZES:
        with torch.no_grad():
            theirs = feats_model(inputs[size])
            ours = backbone(inputs[size])
        assert len(ours) == len(theirs) == 4
        for i, (o, t) in enumerate(zip(ours, theirs)):
            assert o.shape == t.shape, (size, i)
            err = rel_err(o, t)
            print(f'{arch} {size} stage {i}: {err:.1e}')
            assert err <= BOUND, (size, i, err)


def test_fused_timm_checkpoint_converts_to_our_deploy_model(timm_model):
    """timm's ``reparameterize()`` output maps to our ``dw_reparam``."""
    arch, ref, _, inputs, refs, tmp, _ = timm_model
    fused = timm.create_model(f'lcnetv2_{arch}')
    fused.load_state_dict(ref.state_dict())
    for m in fused.modules():
        if hasattr(m, 'reparameterize'):
            m.reparameterize()
    path = str(tmp / 'fused.safetensors')
    safetensors_torch.save_file(
        {k: v.contiguous() for k, v in fused.state_dict().items()}, path)
    ckpt = str(tmp / 'ours_fused.pth')
    assert convert_weights(path, ckpt, arch)['meta']['fused']
    model = build_model(
        load_config(f'configs/cls/deploy/pplcnetv2-{arch}_deploy_8xb256'
                    '_in1k.py'), ckpt)
    with torch.no_grad():
        err = rel_err(model(inputs[(200, 168)], mode='tensor'),
                      refs[(200, 168)])
    assert err <= BOUND, err
