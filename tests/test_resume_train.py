"""A real tools/train.py run, SIGKILLed after its first checkpoint, resumed
with --resume: it continues from the saved iteration with the saved
optimizer and scheduler state and ends at the configured iteration."""
import os
import os.path as osp
import signal
import subprocess
import time

import pytest
import torch

import mmlcnetv2  # noqa: F401  (safe loading of Runner checkpoints)
from test_train_helpers import (PYTHON, ROOT, run_tool, tool_env,
                                write_tiny_config)

MAX_ITERS, INTERVAL = 6, 2


def _assert_same(a, b, path='') -> None:
    """Recursive equality of (optimizer/scheduler) state dicts."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{path}[{i}]')
    else:
        assert a == b, path


def _wait_for_checkpoint(proc, work: str, timeout: float = 240) -> str:
    """The first checkpoint, once mmengine has finished writing it."""
    marker = osp.join(work, 'last_checkpoint')  # written after the .pth
    start = time.time()
    while time.time() - start < timeout:
        if proc.poll() is not None:
            pytest.fail(f'training ended before it was killed: '
                        f'{proc.stderr.read()[-2000:]}')
        if osp.exists(marker):
            with open(marker) as f:
                path = f.read().strip()
            if path and osp.exists(path):
                return path
        time.sleep(0.2)
    pytest.fail('no checkpoint appeared')


@pytest.mark.slow
def test_killed_run_resumes_without_loss(tmp_path):
    cfg = write_tiny_config(
        str(tmp_path / 'tiny.py'), max_iters=MAX_ITERS,
        checkpoint_interval=INTERVAL,
        # 1 s per iteration: time to kill the run between checkpoints
        extra_hooks=[dict(type='DumpStateHook'),
                     dict(type='SlowDownHook', seconds=1.0)])
    work = str(tmp_path / 'work')
    args = [osp.join(ROOT, 'tools', 'train.py'), cfg, '--work-dir', work]
    proc = subprocess.Popen([PYTHON] + args, cwd=ROOT, env=tool_env(),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = _wait_for_checkpoint(proc, work)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(first)
    killed_at = saved['meta']['iter']
    assert killed_at == INTERVAL
    assert not osp.exists(osp.join(work, f'iter_{MAX_ITERS}.pth'))

    out = run_tool(args + ['--resume', '--cfg-options',
                           'custom_hooks.1.seconds=0'])
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'resumed epoch: 0, iter: {killed_at}' in out.stdout + out.stderr

    resumed = torch.load(osp.join(work, 'state_rank0_before_train.pt'))
    assert resumed['iter'] == killed_at
    _assert_same(resumed['optimizer'], saved['optimizer'], 'optimizer')
    # momentum buffers exist, i.e. the optimizer state is not empty
    assert resumed['optimizer']['state']
    _assert_same(resumed['schedulers'], saved['param_schedulers'],
                 'schedulers')
    for k, v in resumed['params'].items():
        assert torch.equal(v, saved['state_dict'][k]), k

    final = torch.load(osp.join(work, 'state_rank0_after_train.pt'))
    assert final['iter'] == MAX_ITERS
    last = torch.load(osp.join(work, f'iter_{MAX_ITERS}.pth'))
    assert last['meta']['iter'] == MAX_ITERS
    # The resumed run's next checkpoint: the scheduler went on counting from
    # the saved step (mmengine does not step it after the very last
    # iteration, so iter_6 is not compared), and the lr is past the
    # milestone (MultiStepLR milestones=[2], gamma 0.1 on lr 0.01).
    nxt = torch.load(osp.join(work, f'iter_{killed_at + INTERVAL}.pth'))
    assert nxt['param_schedulers'][0]['last_step'] == \
        saved['param_schedulers'][0]['last_step'] + INTERVAL
    assert last['optimizer']['param_groups'][0]['lr'] == pytest.approx(1e-3)
