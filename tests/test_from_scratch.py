"""Issue 26, item 1: "from scratch" trains the whole backbone. Without
pretrained weights (no ``Pretrained`` checkpoint in ``init_cfg``), a
config's ``frozen_stages`` and ``norm_eval`` are switched off by the
backbone itself, with one logged line saying what changed, so the rule holds
in every tool that builds the model (ours, mmdet's/mmseg's/mmpretrain's
``tools/train.py``: all build it through the registry)."""
import os.path as osp

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from helpers import log_lines
from mmlcnetv2.models import PPLCNetV2
from test_train_helpers import ROOT

RETINANET = osp.join(ROOT, 'configs', 'det', 'retinanet_lcnetv2.py')


def _fully_trainable(backbone: torch.nn.Module) -> bool:
    """After ``train()``: every parameter takes gradients and every BN
    updates its statistics."""
    backbone.train()
    return all(p.requires_grad for p in backbone.parameters()) and all(
        m.training for m in backbone.modules() if isinstance(m, _BatchNorm))


@pytest.mark.parametrize('init_cfg', [
    None,
    [dict(type='Kaiming', layer=['Conv2d'])],  # an init, no weights
    dict(type='Pretrained', checkpoint=None),  # no checkpoint named
])
def test_no_pretrained_weights_unfreezes_with_one_line(init_cfg):
    with log_lines() as lines:
        model = PPLCNetV2('small', frozen_stages=1, norm_eval=True,
                          init_cfg=init_cfg)
    assert _fully_trainable(model)
    assert (model.frozen_stages, model.norm_eval) == (-1, False)
    said = [line for line in lines if 'PPLCNetV2' in line]
    assert len(said) == 1 and '\n' not in said[0], lines
    assert 'frozen_stages=1 -> -1' in said[0]
    assert 'norm_eval=True -> False' in said[0]
    assert "init_cfg=dict(type='Pretrained'" in said[0]


def test_pretrained_weights_keep_the_freezing_silently():
    with log_lines() as lines:
        model = PPLCNetV2('small', frozen_stages=1, norm_eval=True,
                          init_cfg=dict(type='Pretrained', checkpoint='x.pth',
                                        prefix='backbone.'))
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(m.training for m in model.modules()
                   if isinstance(m, _BatchNorm))
    assert not [line for line in lines if 'PPLCNetV2' in line]


def test_nothing_frozen_nothing_said():
    with log_lines() as lines:
        PPLCNetV2('small', init_cfg=None)
    assert not [line for line in lines if 'PPLCNetV2' in line]


def test_readme_from_scratch_option_in_mmdet_registry():
    """The README's ``--cfg-options model.backbone.init_cfg=None`` on
    configs/det/retinanet_lcnetv2.py (frozen_stages=1, norm_eval=True),
    built the way mmdet's tools/train.py builds it (mmengine's Runner:
    mmdet's MODELS registry): the whole backbone trains."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    cfg = Config.fromfile(RETINANET)
    cfg.merge_from_dict({'model.backbone.init_cfg': None,
                         'model.backbone.arch': 'small',
                         'model.neck.in_channels': [192, 384, 768]})
    assert cfg.model.backbone.frozen_stages == 1 and \
        cfg.model.backbone.norm_eval
    detector = MODELS.build(cfg.model)
    assert _fully_trainable(detector.backbone)
    # With the weights the config names, the freezing stays.
    cfg = Config.fromfile(RETINANET)
    detector = MODELS.build(cfg.model)
    detector.train()
    stem = detector.backbone.stem
    assert not any(p.requires_grad for p in stem.parameters())
