"""Helpers for the tests that run tools/train.py and tools/test.py.

Also imported (as ``test_train_helpers``, with ``tests/`` on PYTHONPATH) by
the training subprocesses those tests start, for the two hooks below. Holds
no tests itself.
"""
import json
import os
import os.path as osp
import random
import subprocess
import sys
import time
from typing import List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from helpers import tiny_runner_cfg  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TESTS = osp.join(ROOT, 'tests')
PYTHON = sys.executable


@HOOKS.register_module(force=True)
class DumpStateHook(Hook):
    """Save what a run looks like to ``work_dir/state_rank<r>_<event>.pt``.

    ``before_train`` (after a resume has loaded its checkpoint) and
    ``after_train``: iteration, world size, parameters, optimizer and
    scheduler state.
    """

    def _dump(self, runner, event: str) -> None:
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        state = dict(
            iter=runner.iter,
            rank=runner.rank,
            world_size=runner.world_size,
            params={k: v.detach().clone()
                    for k, v in model.named_parameters()},
            optimizer=runner.optim_wrapper.state_dict(),
            schedulers=[s.state_dict() for s in runner.param_schedulers],
        )
        torch.save(state, osp.join(runner.work_dir,
                                   f'state_rank{runner.rank}_{event}.pt'))

    def before_train(self, runner) -> None:
        self._dump(runner, 'before_train')

    def after_train(self, runner) -> None:
        self._dump(runner, 'after_train')


@HOOKS.register_module(force=True)
class SlowDownHook(Hook):
    """Sleep after each iteration so that a test can kill the run mid-way."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        time.sleep(self.seconds)


@HOOKS.register_module(force=True)
class RecordDrawsHook(Hook):
    """Append each training iteration's loss and one number drawn from
    Python's, numpy's and torch's generators to ``work_dir/draws.jsonl``."""

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        row = dict(iter=runner.iter + 1, epoch=runner.epoch,
                   loss=float(outputs['loss']), python=random.random(),
                   numpy=float(np.random.rand()),
                   torch=float(torch.rand(1)))
        with open(osp.join(runner.work_dir, 'draws.jsonl'), 'a') as f:
            f.write(json.dumps(row) + '\n')


@HOOKS.register_module(force=True)
class StopAfterEpochHook(Hook):
    """End training (as a stopped run does) after epoch ``epoch``, once its
    checkpoint is saved."""

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 >= self.epoch:
            runner.train_loop.stop_training = True


def write_tiny_config(path: str, max_iters: int, checkpoint_interval: int,
                      extra_hooks: Optional[List[dict]] = None,
                      **overrides) -> str:
    """A tools/train.py config for the tiny in-memory task of
    ``tests/helpers.py``, with a test set."""
    work_dir = osp.join(osp.dirname(path), 'work_dir')
    cfg = tiny_runner_cfg(work_dir, max_iters)
    cfg['custom_imports'] = dict(
        imports=['mmlcnetv2', 'helpers', 'test_train_helpers'],
        allow_failed_imports=False)
    cfg['default_hooks']['checkpoint'] = dict(
        type='CheckpointHook', interval=checkpoint_interval, by_epoch=False)
    cfg['default_hooks']['visualization'] = dict(
        type='VisualizationHook', enable=False)
    cfg['visualizer'] = dict(type='UniversalVisualizer')
    cfg['param_scheduler'] = dict(
        type='MultiStepLR', milestones=[2], by_epoch=False)
    cfg['test_dataloader'] = dict(
        dataset=dict(type='RandomImages', n=6),
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        batch_size=3,
        num_workers=0)
    cfg['test_evaluator'] = dict(type='Accuracy', topk=(1, ))
    cfg['test_cfg'] = dict()
    cfg['custom_hooks'] = list(extra_hooks or [])
    cfg.update(overrides)
    Config(cfg).dump(path)
    return path


def tool_env(**extra) -> dict:
    """Environment for a tools/*.py subprocess: tests/ importable, 1 thread
    per process (the machine has 2 cores), quiet pkg_resources."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [TESTS] + [p for p in [env.get('PYTHONPATH')] if p])
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONWARNINGS'] = 'ignore:pkg_resources is deprecated'
    env.update(extra)
    return env


def run_tool(args: List[str], cwd: str = ROOT, timeout: float = 300,
             env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` and capture its output."""
    return subprocess.run([PYTHON] + args, cwd=cwd, env=env or tool_env(),
                          capture_output=True, text=True, timeout=timeout)
