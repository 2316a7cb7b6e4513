"""mmdet and mmseg are optional (``setup.py`` extras ``det``/``seg``): without
them ``import mmlcnetv2``, the APIs and a PPLCNetV2 classifier from an
mmpretrain config work, and a detection or segmentation config says which
extra to install, in one line.

Each test runs in a subprocess whose ``sys.meta_path`` refuses ``mmdet`` and
``mmseg`` as an environment without them would (the libraries themselves
are not touched)."""
import os.path as osp
import subprocess
import sys
import textwrap

from test_train_helpers import ROOT, tool_env

HIDE = '''
import importlib.abc, sys

class HideOptional(importlib.abc.MetaPathFinder):
    """Import mmdet/mmseg as if they were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('mmdet', 'mmseg'):
            raise ModuleNotFoundError(f'No module named {name!r}', name=name)
        return None

sys.meta_path.insert(0, HideOptional())
'''

DET_CONFIG = 'configs/det/retinanet_lcnetv2-small_shapes-demo.py'
SEG_CONFIG = 'configs/seg/lraspp_lcnetv2-small_shapes-demo.py'


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-c', HIDE + textwrap.dedent(code), *args],
        cwd=ROOT, env=tool_env(), capture_output=True, text=True,
        timeout=300)


def test_classifier_without_mmdet_and_mmseg():
    out = _run('''
        import mmlcnetv2
        import torch
        from mmlcnetv2.apis import build_model, load_config, reparameterize
        model = build_model(load_config(
            'configs/cls/pplcnetv2-small_8xb256_in1k.py'))
        reparameterize(model)
        with torch.no_grad():
            logits = model(torch.zeros(1, 3, 64, 64), mode='tensor')
        print(type(model.backbone).__name__, type(model.head).__name__,
              tuple(logits.shape))
        print(sorted({m.split('.')[0] for m in sys.modules} &
                     {'mmdet', 'mmseg'}))
    ''')
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ['PPLCNetV2 PPLCNetV2Head (1, 1000)',
                                       '[]']


def test_detection_and_segmentation_name_the_extra():
    out = _run(f'''
        import mmlcnetv2
        from mmengine.registry import MODELS
        from mmlcnetv2.apis import load_config
        from mmlcnetv2.errors import MissingExtraError
        for config in ({DET_CONFIG!r}, {SEG_CONFIG!r}):
            try:
                load_config(config)
            except MissingExtraError as e:
                print(e)
        try:  # our detection neck, built from the root registry
            MODELS.build(dict(type='LCPAN', in_channels=[8], out_channels=8))
        except MissingExtraError as e:
            print(e)
    ''')
    assert out.returncode == 0, out.stderr[-3000:]
    det, seg, neck = out.stdout.splitlines()
    assert det.startswith(f"{DET_CONFIG} (default_scope 'mmdet') needs "
                          'mmdet, which is not installed')
    assert "pip install 'mmlcnetv2[det]'" in det
    assert seg.startswith(f"{SEG_CONFIG} (default_scope 'mmseg') needs mmseg")
    assert "pip install 'mmlcnetv2[seg]'" in seg
    assert neck.startswith('LCPAN needs mmdet') and '[det]' in neck


def test_train_tool_names_the_extra():
    tool = osp.join(ROOT, 'tools', 'train.py')
    out = _run(f'''
        import runpy
        sys.argv = [{tool!r}, {DET_CONFIG!r}]
        runpy.run_path({tool!r}, run_name='__main__')
    ''')
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith('error:')]
    assert len(errors) == 1 and 'Traceback' not in out.stderr, out.stderr
    assert DET_CONFIG in errors[0]
    assert "pip install 'mmlcnetv2[det]'" in errors[0]
