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
