"""PPLCNetV2 builds from mmpretrain's, mmdet's and mmseg's registries, and as
``mmlcnetv2.PPLCNetV2`` without custom_imports."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_unscoped_type_after_custom_imports(scope):
    code = f'''
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
cfg = Config(dict(custom_imports=dict(imports=['mmlcnetv2'],
                                      allow_failed_imports=False)))
from mmengine.utils import import_modules_from_strings
import_modules_from_strings(**cfg.custom_imports)
import {scope}.registry as reg
init_default_scope('{scope}')
m = reg.MODELS.build(dict(type='PPLCNetV2', arch='small', out_indices=(1, 2)))
print(type(m).__name__, m.out_channels[1:3])
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'PPLCNetV2 [192, 384]'


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_scoped_type_without_custom_imports(scope):
    code = f'''
import sys
import {scope}.registry as reg
from mmengine.registry import init_default_scope
init_default_scope('{scope}')
assert 'mmlcnetv2' not in sys.modules
m = reg.MODELS.build(dict(type='mmlcnetv2.PPLCNetV2', arch='small'))
print(type(m).__module__)
'''
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'mmlcnetv2.models.backbones.pplcnetv2'

