"""tools/deploy.py prints no warning for a plain export: our own
TracerWarning is gone (PPLCNetV2's input check skips tracing) and the
known-harmless upstream ones are silenced in one place (issue 12, item 10).
"""
import os.path as osp

import torch

from test_train_helpers import ROOT, run_tool


def test_classifier_export_prints_no_warning(tmp_path):
    import mmlcnetv2  # noqa: F401
    from mmlcnetv2.apis import build_model, load_config
    config = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-small_digits.py')
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': build_model(load_config(config)).state_dict()},
               ckpt)
    out = run_tool(['tools/deploy.py', config, ckpt, '--out',
                    str(tmp_path / 'ir'), '--shape', '64', '64'])
    assert out.returncode == 0, out.stderr[-2000:]
    assert osp.isfile(tmp_path / 'ir' / 'model.xml')
    assert 'Warning' not in out.stderr, out.stderr[-3000:]


def test_detector_export_says_its_check_not_the_tracer(tmp_path):
    """A detector (NMS, clipping: the tracer warns about both): one
    ``checked:`` line with the measured IR-vs-torch difference, no
    TracerWarning on stderr (issue 20, item 4)."""
    import mmlcnetv2  # noqa: F401
    from helpers import RETINANET
    from mmlcnetv2.apis import build_model, load_config
    config = tmp_path / 'retinanet.py'
    config.write_text(RETINANET % (20, 96, 96))
    ckpt = str(tmp_path / 'model.pth')
    torch.manual_seed(0)
    torch.save({'state_dict': build_model(load_config(str(
        config))).state_dict()}, ckpt)
    out = run_tool(['tools/deploy.py', str(config), ckpt, '--out',
                    str(tmp_path / 'ir')])
    assert out.returncode == 0, out.stderr[-2000:]
    checked = [line for line in out.stdout.splitlines()
               if line.startswith('checked: ')]
    assert len(checked) == 1, out.stdout
    assert 'matched or tied' in checked[0] and 'max |IR - torch|' in \
        checked[0], checked
    assert 'TracerWarning' not in out.stderr, out.stderr[-3000:]
    assert 'not close' not in out.stderr, out.stderr[-3000:]


class RandomNoiseBackbone(torch.nn.Module):
    """A convolution plus fresh uniform noise: ``torch.rand_like`` converts
    to OpenVINO's ``RandomUniform``, whose generator is not torch's, so the
    IR computes other numbers than torch does."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 256, 3, stride=8)

    def forward(self, x):
        y = self.conv(x)
        return (y + torch.rand_like(y), )


def test_export_whose_check_fails_exits_2_in_one_line(tmp_path, capsys):
    """An IR that disagrees with torch on the example input: exit status 2,
    one ``error:`` line with the measure, nothing written."""
    import sys
    from mmpretrain.registry import MODELS
    from helpers import CLASSIFIER
    from mmlcnetv2.apis import build_model, load_config
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import deploy
    MODELS.register_module('RandomNoiseBackbone', force=True,
                           module=RandomNoiseBackbone)
    config = tmp_path / 'noisy.py'
    config.write_text(CLASSIFIER.format(root=tmp_path, classes=(
        'a', 'b', 'c')) + "model['backbone'] = dict("
        "type='RandomNoiseBackbone')\n")
    ckpt = str(tmp_path / 'model.pth')
    torch.save({'state_dict': build_model(load_config(str(
        config))).state_dict()}, ckpt)
    assert deploy.main([str(config), ckpt, '--out', str(tmp_path / 'ir'),
                        '--shape', '64', '64']) == 2
    err = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith('error: ')]
    assert len(err) == 1, err
    assert 'disagrees with torch on the example input (max |IR - torch|' \
        in err[0], err
    assert not osp.exists(tmp_path / 'ir')
