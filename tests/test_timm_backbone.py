"""Ours against mmpretrain's ``TIMMBackbone`` wrapping timm's LCNetV2: the
same weights give the same multi-scale features, and what each supports
(the README's "Ours or TIMMBackbone?" is measured here)."""
import pytest
import safetensors.torch
import timm  # requirements/tests.txt pins 1.0.31
import torch
from mmpretrain.models.backbones import TIMMBackbone

from mmlcnetv2.models import PPLCNetV2
from mmlcnetv2.utils.batchnorm import randomize_bn

OUT = (1, 2, 3)  # what the detection configs feed their necks


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    torch.manual_seed(5)
    ref = timm.create_model('lcnetv2_base')
    randomize_bn(ref, seed=6)
    path = str(tmp_path_factory.mktemp('timm') / 'model.safetensors')
    safetensors.torch.save_file(ref.state_dict(), path)
    return path


def timm_backbone(path: str, **kwargs) -> TIMMBackbone:
    # How a user gives TIMMBackbone a local file: timm's pretrained path
    # with the file as its source (checkpoint_path breaks features_only).
    return TIMMBackbone(model_name='lcnetv2_base', features_only=True,
                        out_indices=OUT, pretrained=True,
                        pretrained_cfg_overlay=dict(file=path), **kwargs)


def ours(path: str, **kwargs) -> PPLCNetV2:
    model = PPLCNetV2('base', out_indices=OUT, init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='backbone.'), **kwargs)
    model.init_weights()
    return model


def test_same_multi_scale_features(weights):
    theirs, mine = timm_backbone(weights), ours(weights)
    theirs.eval()  # mmpretrain's BaseBackbone.train() returns None
    mine.eval()
    for size in ((224, 224), (200, 168)):
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            a, b = theirs(x), mine(x)
        assert len(a) == len(b) == len(OUT)
        for t, o in zip(a, b):
            assert t.shape == o.shape
            assert float((t - o).abs().max()) <= 1e-4 * float(t.abs().max())


def test_what_timm_backbone_lacks(weights):
    """Measured, not assumed: the features of the README's comparison."""
    # frozen_stages / norm_eval: no such arguments; timm's create_model
    # rejects them.
    for kwargs in (dict(frozen_stages=1), dict(norm_eval=True)):
        with pytest.raises(TypeError):
            timm_backbone(weights, **kwargs)
    mine = ours(weights, frozen_stages=1, norm_eval=True).train()
    assert not any(p.requires_grad for p in mine.stem.parameters())
    assert all(not m.training for m in mine.modules()
               if isinstance(m, torch.nn.BatchNorm2d))
    # Re-parameterization: ours has switch_to_deploy() (what our export
    # calls); TIMMBackbone's module tree has timm's reparameterize() only.
    theirs = timm_backbone(weights)
    assert not any(hasattr(m, 'switch_to_deploy') for m in theirs.modules())
    assert any(hasattr(m, 'reparameterize') for m in theirs.modules())
