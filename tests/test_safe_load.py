"""mmengine Runner checkpoints load under torch's safe (weights_only) loading
once mmlcnetv2 is imported, and nothing beyond their own types is allowed."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmlcnetv2  # noqa: F401  (installs the allowlist)
from helpers import tiny_runner_cfg


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('runner'))
    runner = Runner.from_cfg(Config(tiny_runner_cfg(work_dir, max_iters=2)))
    runner.train()
    return work_dir


def test_runner_checkpoint_needs_the_allowlist(trained):
    ckpt = os.path.join(trained, 'iter_2.pth')
    # Without mmlcnetv2, torch's default safe load refuses mmengine's types.
    code = ('import torch, sys; torch.load(sys.argv[1])')
    out = subprocess.run([sys.executable, '-c', code, ckpt],
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert 'HistoryBuffer' in out.stderr
    # With it, the default (weights_only=True) load succeeds.
    ckpt_dict = torch.load(ckpt)
    assert ckpt_dict['meta']['iter'] == 2
    assert 'optimizer' in ckpt_dict and 'param_schedulers' in ckpt_dict


def test_resume_continues_from_saved_state(trained):
    saved = torch.load(os.path.join(trained, 'iter_2.pth'))
    cfg = tiny_runner_cfg(trained, max_iters=3, resume=True)
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    assert runner.iter == 3
    resumed = torch.load(os.path.join(trained, 'iter_3.pth'))
    assert resumed['meta']['iter'] == 3
    # The scheduler's milestone (iter 1) had passed before the save: the
    # resumed run kept the decayed lr rather than restarting at 0.01.
    lr = resumed['optimizer']['param_groups'][0]['lr']
    assert lr == pytest.approx(0.001)
    assert saved['param_schedulers'][0]['_global_step'] == 2
    assert resumed['param_schedulers'][0]['_global_step'] == 3


def test_other_globals_stay_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': os.getcwd}, path)  # pickled as a global reference
    with pytest.raises(pickle.UnpicklingError, match='getcwd'):
        torch.load(path)
