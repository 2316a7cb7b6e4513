"""A real tools/train.py run, SIGKILLed after its first checkpoint, resumed
with --resume: it continues from the saved iteration with the saved
optimizer and scheduler state and ends at the configured iteration; a
stopped run resumed draws the random numbers of the uninterrupted one; a
save that breaks off leaves no checkpoint under its final name, and
--resume names a bad checkpoint and skips it or refuses."""
import json
import os
import os.path as osp
import resource
import signal
import subprocess
import time
from typing import List, Optional

import pytest
import torch

import mmlcnetv2  # noqa: F401  (safe loading of Runner checkpoints)
from mmlcnetv2.cli.resume import find_resume_checkpoint
from mmlcnetv2.errors import UserInputError
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


# ------------------------------------------- epoch-based runs (3 x 4 images)
EPOCHS, ITERS_PER_EPOCH = 2, 3


def _epoch_config(path: str, stop_after: Optional[int] = None) -> str:
    """A 2-epoch run that validates after each epoch, shuffles with the
    runner's seed (no seed of its own) and records its random draws."""
    loader = dict(sampler=dict(type='DefaultSampler', shuffle=True),
                  collate_fn=dict(type='default_collate'), num_workers=0)
    hooks = [dict(type='RecordDrawsHook')] + (
        [dict(type='StopAfterEpochHook', epoch=stop_after)]
        if stop_after else [])
    return write_tiny_config(
        path, max_iters=1, checkpoint_interval=1, extra_hooks=hooks,
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=EPOCHS,
                       val_interval=1),
        train_dataloader=dict(
            loader, batch_size=4,
            dataset=dict(type='RandomImages', n=4 * ITERS_PER_EPOCH)),
        val_dataloader=dict(loader, batch_size=3,
                            dataset=dict(type='RandomImages', n=6)),
        val_evaluator=dict(type='Accuracy', topk=(1, )),
        val_cfg=dict(),
        param_scheduler=dict(type='MultiStepLR', milestones=[1],
                             by_epoch=True),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=True),
            logger=dict(type='LoggerHook', interval=1),
            visualization=dict(type='VisualizationHook', enable=False)))


def _train(config: str, work: str, *options: str,
           **kw) -> subprocess.CompletedProcess:
    return run_tool([osp.join(ROOT, 'tools', 'train.py'), config,
                     '--work-dir', work, *options], **kw)


def _draws(work: str, epoch: int) -> List[dict]:
    with open(osp.join(work, 'draws.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if r['epoch'] == epoch]


@pytest.mark.slow
def test_resumed_run_continues_the_random_numbers(tmp_path):
    """Stopped after epoch 1 and resumed, a seeded run draws in epoch 2 what
    the uninterrupted run draws: the same losses (dropout masks, sample
    order) and the same numbers from Python's, numpy's and torch's
    generators. The resumed process gets another --seed, as a run whose
    config sets none does: the sampler keeps the saved run's seed."""
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    go = _epoch_config(str(tmp_path / 'go.py'))
    stop = _epoch_config(str(tmp_path / 'stop.py'), stop_after=1)
    for config, work in ((go, full), (stop, part)):
        out = _train(config, work, '--seed', '1')
        assert out.returncode == 0, out.stderr[-3000:]
    assert not osp.exists(osp.join(part, 'epoch_2.pth'))
    out = _train(go, part, '--resume', '--seed', '2')
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in \
        out.stdout + out.stderr
    assert _draws(part, 0) == _draws(full, 0)  # the same run up to the stop
    expected, resumed = _draws(full, 1), _draws(part, 1)
    assert len(expected) == ITERS_PER_EPOCH
    assert resumed == expected


def _truncate(path: str) -> None:
    size = os.path.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)


@pytest.mark.slow
def test_resume_skips_a_truncated_checkpoint_or_refuses(tmp_path):
    """last_checkpoint names a truncated epoch_2.pth: --resume says so in
    one line and resumes from epoch_1.pth; with every checkpoint truncated
    it refuses in one line (exit 2) and writes nothing; it never trains
    from scratch."""
    work = str(tmp_path / 'work')
    config = _epoch_config(str(tmp_path / 'go.py'))
    out = _train(config, work)
    assert out.returncode == 0, out.stderr[-3000:]
    first, last = osp.join(work, 'epoch_1.pth'), osp.join(work, 'epoch_2.pth')
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == last
    _truncate(last)

    out = _train(config, work, '--resume')
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stderr.splitlines()
             if line.startswith('warning: --resume')]
    assert len(lines) == 1, out.stderr[-3000:]
    assert repr(last) in lines[0] and 'truncated' in lines[0]
    assert f'resuming from {first!r}' in lines[0]
    assert f'resumed epoch: 1, iter: {ITERS_PER_EPOCH}' in \
        out.stdout + out.stderr
    assert 'latest checkpoint None' not in out.stdout + out.stderr
    torch.load(last)  # written again, whole

    for path in (first, last):
        _truncate(path)
    before = sorted(os.listdir(work))
    out = _train(config, work, '--resume')
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: --resume'), lines
    assert repr(first) in lines[0] and repr(last) in lines[0]
    assert sorted(os.listdir(work)) == before


def _plant(work, name: str, epoch: int) -> str:
    """A Runner checkpoint as mmengine's save_checkpoint writes it."""
    from mmengine.runner.checkpoint import save_checkpoint
    path = str(work / name)
    save_checkpoint(dict(meta=dict(epoch=epoch, iter=3 * epoch),
                         state_dict={'w': torch.ones(64, 64)}), path)
    return path


def test_find_resume_checkpoint(tmp_path, capsys):
    """The checkpoint last_checkpoint names; a truncated one is named in one
    line and the newest readable one taken; none readable or none at all
    is refused."""
    with pytest.raises(UserInputError, match='holds no checkpoint'):
        find_resume_checkpoint(str(tmp_path))
    first = _plant(tmp_path, 'epoch_1.pth', 1)
    last = _plant(tmp_path, 'epoch_2.pth', 2)
    (tmp_path / 'last_checkpoint').write_text(last)
    assert find_resume_checkpoint(str(tmp_path)) == last
    assert capsys.readouterr().err == ''
    _truncate(last)
    assert find_resume_checkpoint(str(tmp_path)) == first
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and repr(last) in err[0] and 'truncated' in err[0]
    (tmp_path / 'last_checkpoint').unlink()  # killed before writing it
    assert find_resume_checkpoint(str(tmp_path)) == first
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and repr(last) in err[0], err  # the newest, bad
    os.remove(last)
    assert find_resume_checkpoint(str(tmp_path)) == first
    assert 'no last_checkpoint' in capsys.readouterr().err
    _plant(tmp_path, 'epoch_2.pth', 2)
    _truncate(last)
    _truncate(first)
    with pytest.raises(UserInputError) as e:
        find_resume_checkpoint(str(tmp_path))
    assert repr(first) in str(e.value) and repr(last) in str(e.value)


def _limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
def test_a_save_that_breaks_off_leaves_no_checkpoint(tmp_path):
    """The first checkpoint's write fails midway (the file size limit, as a
    full disk or a killed process would end it): nothing is left under the
    name epoch_1.pth, and --resume then refuses in one line instead of
    training from scratch."""
    work = str(tmp_path / 'work')
    config = _epoch_config(str(tmp_path / 'go.py'))
    # Larger than the logs and the config dump, smaller than a checkpoint
    # (the tiny model's weights and momentum are ~0.5 MB).
    limit = 128 * 1024
    proc = subprocess.run(
        [PYTHON, osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir',
         work], cwd=ROOT, env=tool_env(), capture_output=True, text=True,
        timeout=300, preexec_fn=_limit_file_size(limit))
    assert proc.returncode != 0
    assert 'File too large' in proc.stderr, proc.stderr[-3000:]
    assert not osp.exists(osp.join(work, 'epoch_1.pth'))
    assert not osp.exists(osp.join(work, 'last_checkpoint'))

    out = _train(config, work, '--resume')
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and 'holds no checkpoint' in lines[0], lines
