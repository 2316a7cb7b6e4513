"""tools/setup_env.sh prints only its own ``[setup]`` lines, keeps pip's and
setuptools' output in a log whose path it prints when a step fails, and its
stamp still skips everything when nothing changed (issue 12, item 10).

The real installation is not rerun (the shared environment is in use): the
script runs against a throwaway venv whose ``python`` is a stand-in that
prints what pip and setuptools print, and fails on request.
"""
import os
import stat
import subprocess

import pytest

from test_train_helpers import ROOT

FAKE_PYTHON = '''#!/bin/sh
echo "$*" >> "$FAKE_CALLS"
case "$*" in
  *" -c "*|"-c "*) echo cp311; exit 0 ;;
esac
echo "SetuptoolsDeprecationWarning: License classifiers are deprecated." >&2
echo "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed." >&2
case "$*" in
  *"$FAKE_FAIL_ON"*) echo "No matching distribution found" >&2; exit 3 ;;
esac
exit 0
'''


@pytest.fixture
def fake_venv(tmp_path):
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    python = venv / 'bin' / 'python'
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    # A cached mmcv wheel: the script does not build it.
    torch = [line.split('==')[1].strip() for line in open(
        os.path.join(ROOT, 'requirements', 'runtime.txt'))
        if line.startswith('torch==')][0]
    wheels = tmp_path / 'cache' / f'mmcv-2.1.0-torch{torch}-cp311'
    wheels.mkdir(parents=True)
    (wheels / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl').write_bytes(b'')
    return venv


def _setup(venv, fail_on='nothing-fails') -> subprocess.CompletedProcess:
    env = dict(os.environ, VENV=str(venv),
               MMLCNETV2_CACHE=str(venv.parent / 'cache'),
               FAKE_CALLS=str(venv.parent / 'calls.txt'),
               FAKE_FAIL_ON=fail_on)
    return subprocess.run(['bash', 'tools/setup_env.sh', 'main'], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=60)


def _stamps(venv):
    return [f for f in os.listdir(venv) if f.startswith('.mmlcnetv2-main-')]


def test_only_our_lines_and_the_stamp_skips_the_rerun(fake_venv):
    out = _setup(fake_venv)
    assert out.returncode == 0, out.stderr
    lines = (out.stdout + out.stderr).splitlines()
    assert lines and all(line.startswith('[setup] ') for line in lines), \
        lines
    assert lines[-1] == '[setup] done (main)'
    log = (fake_venv / 'setup-main.log').read_text()
    assert "dependency resolver" in log and 'Deprecation' in log
    assert len(_stamps(fake_venv)) == 1
    calls = (fake_venv.parent / 'calls.txt').read_text()
    assert '-r requirements/runtime.txt' in calls and '-e .' in calls
    # Nothing changed: the stamp skips pip.
    again = _setup(fake_venv)
    assert again.returncode == 0
    assert again.stdout.strip().endswith('is up to date (main)')
    assert (fake_venv.parent / 'calls.txt').read_text() == calls


def test_a_failing_step_names_itself_and_the_log(fake_venv):
    out = _setup(fake_venv, fail_on='requirements/runtime.txt')
    assert out.returncode == 3
    log = str(fake_venv / 'setup-main.log')
    assert ('[setup] FAILED: installing requirements/runtime.txt and '
            'tests.txt (exit status 3)') in out.stderr
    assert 'No matching distribution found' in out.stderr  # the log's end
    assert f'[setup] full log: {log}' in out.stderr
    assert all(line.startswith('[setup] ')
               for line in (out.stdout + out.stderr).splitlines())
    assert _stamps(fake_venv) == []  # the next run tries again


@pytest.mark.parametrize('env, words', [
    ({'MMLCNETV2_CUDA': 'yes'}, "MMLCNETV2_CUDA='yes' (allowed: 1"),
    ({'MMLCNETV2_CUDA': '1', 'TORCH_CUDA_ARCH_LIST': 'sm90'},
     "TORCH_CUDA_ARCH_LIST='sm90' (allowed: compute capabilities"),
])
def test_bad_cuda_build_settings_are_one_line(env, words):
    """The CUDA build's settings, read against this environment's torch:
    a value outside what is allowed stops the set-up in one line, exit 2,
    before anything is built."""
    import sys
    venv = os.path.dirname(os.path.dirname(sys.executable))
    script = ('log() { printf "[setup] %s\\n" "$*"; }; '
              'TORCH_VERSION=x; . tools/mmcv_build.sh; decide_mmcv_device')
    proc = subprocess.run(['bash', '-c', script], cwd=ROOT,
                          env=dict(os.environ, VENV=venv, **env),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
