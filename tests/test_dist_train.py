"""tools/dist_train.sh: 2 processes on CPU (torchrun + mmengine's pytorch
launcher over gloo) train the tiny task; gradients are averaged, so both
ranks end with the same weights, and only rank 0 writes a checkpoint."""
import os
import os.path as osp
import socket
import subprocess

import pytest
import torch

import mmlcnetv2  # noqa: F401  (safe loading of Runner checkpoints)
from test_train_helpers import PYTHON, ROOT, tool_env, write_tiny_config

MAX_ITERS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_processes_average_gradients(tmp_path):
    cfg = write_tiny_config(
        str(tmp_path / 'tiny.py'), max_iters=MAX_ITERS,
        checkpoint_interval=MAX_ITERS,
        extra_hooks=[dict(type='DumpStateHook')],
        # 8 images, 4 per rank and iteration: each rank sees other images
        train_dataloader=dict(
            dataset=dict(type='RandomImages', n=16),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            collate_fn=dict(type='default_collate'),
            batch_size=4,
            num_workers=0))
    work = str(tmp_path / 'work')
    out = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), cfg, '2',
         '--work-dir', work],
        cwd=ROOT, env=tool_env(PYTHON=PYTHON, PORT=str(_free_port())),
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]

    states = [torch.load(osp.join(work, f'state_rank{r}_{e}.pt'))
              for r in (0, 1) for e in ('before_train', 'after_train')]
    before0, after0, before1, after1 = states
    assert [s['rank'] for s in states] == [0, 0, 1, 1]
    assert all(s['world_size'] == 2 for s in states)
    assert after0['iter'] == after1['iter'] == MAX_ITERS
    # DDP broadcast rank 0's initial weights ...
    for k, v in before0['params'].items():
        assert torch.equal(v, before1['params'][k]), k
    # ... and after training on different images both ranks still agree:
    # the gradients were averaged.
    changed = 0
    for k, v in after0['params'].items():
        assert torch.allclose(v, after1['params'][k], atol=1e-6), k
        changed += not torch.equal(v, before0['params'][k])
    assert changed > 0

    ckpts = sorted(f for f in os.listdir(work) if f.endswith('.pth'))
    assert ckpts == [f'iter_{MAX_ITERS}.pth']
    saved = torch.load(osp.join(work, ckpts[0]))['state_dict']
    for k, v in after0['params'].items():
        assert torch.equal(saved[k], v), k
    assert 'gloo' in out.stdout + out.stderr  # the backend in the log
