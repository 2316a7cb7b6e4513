"""Architectures the export cannot follow are refused before tracing, in one
line naming the part (issue 26, item 6): deformable convs (VFNet, DDOD:
the layer by name), cascade segmentors (OCRNet's
``CascadeEncoderDecoder``), and an IR that disagrees with torch after the
tracer warned: one line counting the warnings, none of them shown.

Upstream configs (``mmdet::``/``mmseg::``) with PP-LCNetV2 swapped in where
a backbone fits, random weights; nothing is traced for the refusals.
"""
import os.path as osp
import sys
import warnings

import pytest
import torch

from test_deploy_upstream import HEADER, SWAP
from test_train_helpers import ROOT

#: name -> (config, the words the refusal must have).
REFUSED = {
    'vfnet': ("_base_ = 'mmdet::vfnet/vfnet_r50_fpn_1x_coco.py'" + SWAP,
              'VFNet does not export: bbox_head.vfnet_reg_refine_dconv is '
              'DeformConv2d'),
    'ddod': ("_base_ = 'mmdet::ddod/ddod_r50_fpn_1x_coco.py'" + SWAP,
             'DDOD does not export: bbox_head.cls_convs.0.conv is '
             'DeformConv2dPack'),
    'ocrnet': ("_base_ = 'mmseg::ocrnet/"
               "ocrnet_hr18_4xb2-40k_cityscapes-512x1024.py'\n"
               "model = dict(pretrained=None)\n",
               'CascadeEncoderDecoder (a cascade segmentor: decode_head is '
               '2 heads, FCNHead, OCRHead) does not export'),
}


def _deploy_main():
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import deploy
    return deploy.main


@pytest.mark.parametrize('name', sorted(REFUSED))
def test_refused_before_tracing_in_one_line(name, tmp_path, capsys):
    """``tools/deploy.py``: exit status 2, one ``error:`` line naming the
    part (for a deformable conv, the layer's dotted name and class), no
    TracerWarning (nothing was traced), nothing written. (VFNet and DDOD
    exited 2 after 600-700 lines of tracer warnings, or 1 blaming an
    unsupported op; OCRNet gave a 23-line AttributeError.)"""
    from mmlcnetv2.apis import build_model, load_config
    config = tmp_path / f'{name}.py'
    config.write_text(HEADER + REFUSED[name][0])
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': build_model(load_config(str(
        config))).state_dict()}, ckpt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        status = _deploy_main()([str(config), ckpt, '--out',
                                 str(tmp_path / 'ir'), '--shape', '128',
                                 '128'])
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith('error: ')]
    assert status == 2
    assert len(err) == 1, err
    print(err[0])
    assert err[0].startswith('error: ' + REFUSED[name][1]), err[0]
    assert not [w for w in caught
                if issubclass(w.category, torch.jit.TracerWarning)]
    assert not osp.exists(tmp_path / 'ir')


class ChattyNoiseBackbone(torch.nn.Module):
    """A convolution plus fresh noise (OpenVINO's ``RandomUniform`` is not
    torch's generator, so the IR disagrees with torch), after reading
    values into Python 200 times (a TracerWarning each)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 256, 3, stride=8)

    def forward(self, x):
        y = self.conv(x)
        for _ in range(200):
            y = y + 0.0 * float(y[0, 0, 0, 0])
        return (y + torch.rand_like(y), )


def test_failed_check_counts_the_tracer_warnings_shows_none(tmp_path,
                                                            capsys):
    """An IR that disagrees with torch after 200 tracer warnings (the
    tracer warns twice for most): one ``error:`` line that counts them and
    quotes the first; not one TracerWarning is shown (they were all
    re-issued before)."""
    from mmpretrain.registry import MODELS
    from helpers import CLASSIFIER
    from mmlcnetv2.apis import build_model, load_config
    MODELS.register_module('ChattyNoiseBackbone', force=True,
                           module=ChattyNoiseBackbone)
    config = tmp_path / 'chatty.py'
    config.write_text(CLASSIFIER.format(root=tmp_path, classes=(
        'a', 'b', 'c')) + "model['backbone'] = dict("
        "type='ChattyNoiseBackbone')\n")
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': build_model(load_config(str(
        config))).state_dict()}, ckpt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        status = _deploy_main()([str(config), ckpt, '--out',
                                 str(tmp_path / 'ir'), '--shape', '64', '64'])
    assert status == 2
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith('error: ')]
    assert len(err) == 1, err
    import re
    said = re.search(r'the tracer warned (\d+) times, first: Converting a '
                     r'tensor to a Python float', err[0])
    assert said and int(said.group(1)) >= 200, err[0]
    shown = [w for w in caught
             if issubclass(w.category, torch.jit.TracerWarning)]
    assert not shown, f'{len(shown)} TracerWarnings shown'
    assert not osp.exists(tmp_path / 'ir')


def test_untraceable_layer_found_by_what_it_runs():
    """A layer is refused for running an mmcv compiled kernel, whether its
    class sits next to one (``DeformConv2dPack``) or only calls one
    (``SAConv2d`` calls ``deform_conv2d``); a loss is not run by the
    export, and plain torch layers pass."""
    from mmcv.ops import DeformConv2dPack, SAConv2d, SigmoidFocalLoss
    from mmlcnetv2.deploy.tasks.traceable import untraceable_layer
    conv = torch.nn.Conv2d(4, 4, 3)
    assert untraceable_layer(torch.nn.Sequential(conv)) is None
    assert untraceable_layer(torch.nn.Sequential(
        conv, SAConv2d(4, 4, 3))) == ('1', 'SAConv2d')
    assert untraceable_layer(torch.nn.ModuleDict(dict(
        neck=torch.nn.Sequential(DeformConv2dPack(4, 4, 3))))) == (
            'neck.0', 'DeformConv2dPack')
    head = torch.nn.Module()
    head.loss_cls = SigmoidFocalLoss(2.0, 0.25)
    assert untraceable_layer(head) is None
