"""Flush-to-zero of denormals: on by default in our processes, in every
torch thread, with a way to keep them (see mmlcnetv2/utils/denormals.py).

Each case runs in a fresh interpreter: the FTZ/DAZ bits are per thread and
are inherited when threads start, so a test in this (already configured)
process would prove nothing.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PROBE = """
import torch
torch.set_num_threads(2)
from mmlcnetv2.utils.denormals import (configure_denormals,
                                       denormals_flushed)
if {configure}:
    print('configured', configure_denormals())
# a parallel op that starts the pool, then the probe over both threads
torch.ones(1 << 20).mul_(2)
print('flushed', denormals_flushed())
"""


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full = dict(os.environ)
    full.pop('MMLCNETV2_DENORMALS', None)  # the default unless a test sets it
    full.update(env)
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=300)


def test_torch_keeps_denormals_unless_told():
    """The precondition: torch on its own keeps them (the 17x slowdown)."""
    out = _run(PROBE.format(configure=False))
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'flushed False' in out.stdout


def test_configure_flushes_in_every_thread():
    out = _run(PROBE.format(configure=True))
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'configured True' in out.stdout
    assert 'flushed True' in out.stdout


def test_keep_turns_it_off():
    out = _run(PROBE.format(configure=True), MMLCNETV2_DENORMALS='keep')
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'configured False' in out.stdout
    assert 'flushed False' in out.stdout


@pytest.mark.parametrize('tool', ['infer.py', 'deploy_test.py'])
def test_bad_value_is_one_line_exit_2(tool, tmp_path):
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', tool), 'x.py',
         str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, MMLCNETV2_DENORMALS='sometimes'), timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "MMLCNETV2_DENORMALS='sometimes'" in lines[0]
    assert 'flush, keep' in lines[0]
