"""The wheel, installed into a fresh environment, runs its commands outside
the checkout: ``mmlcnetv2 --help``, a data generator, bad input, and real
conversions of a config that names our configs by ``mmlcnetv2::``.

The environment is a new venv that gets the wheel alone (``--no-deps``);
its dependencies come from this environment's site-packages through a
``.pth`` file added after the install, so nothing is downloaded and this
environment is not touched. ``PYTHONPATH`` is dropped and every command
runs in an empty folder, so the checkout cannot stand in for the wheel.
"""
import glob
import json
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
from typing import List

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: What the wheel is built from (``setup.py`` reads the rest of these).
SOURCES = ('setup.py', 'README.md', 'LICENSE', 'NOTICE', 'requirements',
           'configs', 'mmlcnetv2')
CONFIG = "_base_ = ['mmlcnetv2::cls/pplcnetv2-small_8xb256_in1k.py']\n"
RANDOM_CHECKPOINT = '''
import torch
from mmlcnetv2.apis import build_model, load_config
torch.manual_seed(0)
model = build_model(load_config('my_cls.py'))
torch.save(dict(state_dict=model.state_dict()), 'random.pth')
'''


def _run(cmd: List[str], cwd: str, timeout: float = 300
         ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore:pkg_resources is deprecated')
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _check(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope='module')
def venv(tmp_path_factory) -> str:
    """A venv with the wheel of this checkout installed; returns its
    ``bin`` folder."""
    base = tmp_path_factory.mktemp('wheel')
    src = base / 'src'
    src.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '.mim', '*.egg-info')
    for name in SOURCES:
        path = osp.join(ROOT, name)
        if osp.isdir(path):
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy(path, src / name)
    _check(_run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                 '--no-build-isolation', '--no-index', '-w',
                 str(base / 'dist'), str(src)], str(base)))
    wheel, = glob.glob(str(base / 'dist' / 'mmlcnetv2-*.whl'))
    env = base / 'venv'
    _check(_run([sys.executable, '-m', 'venv', '--without-pip', str(env)],
                str(base)))
    python = str(env / 'bin' / 'python')
    _check(_run([sys.executable, '-m', 'pip', '--python', python, 'install',
                 '--no-deps', '--no-index', '--ignore-installed', wheel],
                str(base)))
    # After the install, so that pip never sees (or removes) this
    # environment's packages; after the wheel's on the path.
    purelib = _check(_run([python, '-c', 'import sysconfig; print('
                           'sysconfig.get_paths()["purelib"])'],
                          str(base))).strip()
    with open(osp.join(purelib, 'dependencies.pth'), 'w') as f:
        f.write('\n'.join(site.getsitepackages()) + '\n')
    return str(env / 'bin')


@pytest.fixture
def empty(tmp_path) -> str:
    """An empty folder outside the checkout to run the commands in."""
    folder = tmp_path / 'user'
    folder.mkdir()
    return str(folder)


def test_the_package_is_the_wheel(venv, empty):
    out = _check(_run([osp.join(venv, 'python'), '-c',
                       'import mmlcnetv2, mmlcnetv2.model_index as m; '
                       'print(mmlcnetv2.__file__); print(m.configs_root())'],
                      empty))
    package, configs = out.splitlines()
    assert package.startswith(osp.dirname(venv)), package
    # the configs came with it: what `mmlcnetv2::` names resolve to
    assert configs == osp.join(osp.dirname(package), '.mim')
    assert osp.isfile(osp.join(configs, 'configs', 'det',
                               'picodet-style_lcnetv2-small_shapes-demo.py'))
    # research stays in the checkout: no benchmark code in the package,
    # no benchmarks package beside it
    site_packages = osp.dirname(osp.dirname(package))
    assert not osp.exists(osp.join(osp.dirname(package), 'benchmark'))
    assert not osp.exists(osp.join(site_packages, 'benchmarks'))


def test_help_lists_every_command(venv, empty):
    from mmlcnetv2.commands.main import COMMANDS
    out = _check(_run([osp.join(venv, 'mmlcnetv2'), '--help'], empty))
    for name in COMMANDS:
        assert f'\n  {name} ' in out, name
    out = _check(_run([osp.join(venv, 'mmlcnetv2'), 'deploy', '--help'],
                      empty))
    assert out.startswith('usage: mmlcnetv2 deploy ')


def test_a_data_generator(venv, empty):
    out = _check(_run([osp.join(venv, 'mmlcnetv2'), 'make-shapes', '--out',
                       'data/shapes', '--num-train', '2', '--num-val', '1',
                       '--img-size', '64'], empty))
    assert 'wrote shapes dataset at data/shapes' in out
    with open(osp.join(empty, 'data', 'shapes', 'annotations',
                       'instances_train.json')) as f:
        assert len(json.load(f)['images']) == 2


@pytest.mark.parametrize('argv, named', [
    (['convert', 'missing.pdparams', 'out.pth', '--arch', 'small'],
     'missing.pdparams'),
    (['demo', '--num-train', '0'], 'num_train'),
    (['benchmark', '--list'], 'needs a checkout'),
])
def test_bad_input_is_one_line_exit_2(venv, empty, argv, named):
    proc = _run([osp.join(venv, 'mmlcnetv2'), *argv], empty)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines()
              if ln.startswith('error:')]
    assert len(errors) == 1 and named in errors[0], proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    assert os.listdir(empty) == []  # nothing written


@pytest.mark.slow
def test_reparameterize_and_deploy_a_users_config(venv, empty):
    with open(osp.join(empty, 'my_cls.py'), 'w') as f:
        f.write(CONFIG)
    _check(_run([osp.join(venv, 'python'), '-c', RANDOM_CHECKPOINT], empty))
    mmlcnetv2 = osp.join(venv, 'mmlcnetv2')
    out = _check(_run([mmlcnetv2, 'reparameterize', 'my_cls.py',
                       'random.pth', 'fused.pth'], empty))
    assert 'wrote fused.pth' in out
    out = _check(_run([mmlcnetv2, 'deploy', 'my_cls.py', 'random.pth',
                       '--out', 'export'], empty))
    assert 'wrote export: classification' in out
    with open(osp.join(empty, 'export', 'deploy.json')) as f:
        assert json.load(f)['task'] == 'classification'


@pytest.mark.slow
def test_demo_outside_a_checkout(venv, empty):
    """The demo's config comes from the package; its data, work dir and
    results file go under the current folder (no docs/demo/ here)."""
    proc = _run([osp.join(venv, 'mmlcnetv2'), 'demo', '--num-train', '8',
                 '--num-val', '2', '--max-epochs', '1', '--cfg-options',
                 'model.test_cfg.score_thr=0.0'], empty, timeout=900)
    out = _check(proc)
    assert 'bbox mAP@0.5' in out
    work = osp.join(empty, 'work_dirs',
                    'picodet-style_lcnetv2-small_shapes-demo')
    assert sorted(os.listdir(empty)) == ['data', 'work_dirs']
    assert osp.isfile(osp.join(empty, 'data', 'shapes', 'meta.json'))
    assert osp.isfile(osp.join(work, '.mmlcnetv2-demo.json'))
    results = [n for n in os.listdir(work)
               if n.endswith('.json') and n not in (
                   'demo_metrics.json', '.mmlcnetv2-demo.json')]
    assert len(results) == 1, os.listdir(work)
    with open(osp.join(work, results[0])) as f:
        result = json.load(f)
    assert result['command'].startswith('mmlcnetv2 demo --num-train 8')
    assert result['config'] == \
        'configs/det/picodet-style_lcnetv2-small_shapes-demo.py'
