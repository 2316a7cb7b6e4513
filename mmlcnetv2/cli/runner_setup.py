# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What tools/train.py and tools/test.py do to a config before the Runner.

Each function edits the config in place and fails early, naming the problem,
rather than letting mmengine fail deep inside. :func:`run_runner` is what
both tools run.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Callable, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict

from ..apis.config_vars import RUNNER_KEYS
from ..errors import UserInputError


class ConfigOptionError(UserInputError, KeyError):
    """A ``--cfg-options`` key that names nothing in the config."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _lookup(node, part: str):
    if isinstance(node, (list, tuple)):
        if not part.isdigit() or int(part) >= len(node):
            raise KeyError(part)
        return node[int(part)]
    if isinstance(node, dict) and part in node:
        return node[part]
    raise KeyError(part)


def merge_cfg_options(cfg: Config, options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` after checking that each key exists.

    A key's parents must exist. It may add new keys only inside a dict with
    a ``type`` (constructor arguments, checked when the object is built,
    e.g. ``model.backbone.init_cfg.type=Pretrained``) or at the top level if
    the Runner reads it, so that a typo such as ``train_cfg.max_iter=5`` is an error
    instead of a silently ignored setting.
    """
    root = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for key in options or {}:
        node, parts = root, key.split('.')
        for i, part in enumerate(parts):
            try:
                node = _lookup(node, part)
            except KeyError:
                parent = '.'.join(parts[:i]) or '<top level>'
                if isinstance(node, dict) and 'type' in node:
                    break
                if i == 0 and part in RUNNER_KEYS:
                    break
                near = sorted(node)[:20] if isinstance(node, dict) else []
                raise ConfigOptionError(
                    f'--cfg-options key {key!r}: {part!r} is not in '
                    f'{parent}' + (f' (it has: {", ".join(near)})'
                                   if near else '')) from None
    if options:
        cfg.merge_from_dict(options)


def setup_amp(cfg: Config) -> str:
    """Turn on mixed precision: mmengine's AMP on a GPU, bf16 on the CPU.

    Returns:
        str: The optimizer wrapper type now in use.
    """
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'BF16AutocastOptimWrapper'):
        return wrapper
    if wrapper != 'OptimWrapper':
        raise UserInputError(
            f'--amp: optim_wrapper.type is {wrapper!r}; only OptimWrapper '
            'can be switched to mixed precision')
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'BF16AutocastOptimWrapper'
    return cfg.optim_wrapper.type


def setup_auto_scale_lr(cfg: Config) -> None:
    """Enable mmengine's linear lr scaling by the actual total batch size."""
    if 'auto_scale_lr' not in cfg or 'base_batch_size' not in \
            cfg.auto_scale_lr:
        raise UserInputError(
            '--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
            'config (the total batch size its lr was tuned for)')
    cfg.auto_scale_lr.enable = True


def add_random_state_hook(cfg: Config) -> None:
    """Add :class:`mmlcnetv2.engine.RandomStateHook` to ``custom_hooks``
    (unless there): every checkpoint then holds the random states, and a
    resumed run continues the saved one's random numbers."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, dict) and str(h.get('type', '')).split('.')[-1]
               == 'RandomStateHook' for h in hooks):
        hooks.append(ConfigDict(type='RandomStateHook'))
    cfg.custom_hooks = hooks


def setup_persistent_workers(cfg: Config) -> None:
    """``persistent_workers=True`` with ``num_workers=0`` (a common way to
    debug in one process): torch's DataLoader refuses that combination
    deep inside the Runner, after the work dir is made; there is no worker
    to keep, so it is turned off here, with a line saying so."""
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if isinstance(loader, dict) and loader.get(
                'persistent_workers') and loader.get('num_workers', 0) == 0:
            loader['persistent_workers'] = False
            # Before the Runner: its logger does not exist yet.
            print(f'note: {split}_dataloader.persistent_workers: set to '
                  'False, as num_workers is 0 (no worker process to keep)',
                  file=sys.stderr)


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Make mmengine's ``pytorch``/``slurm`` launchers work without a GPU.

    mmengine 0.10.7 assumes CUDA twice: its launcher calls
    ``torch.cuda.set_device`` and ``Runner.wrap_model`` passes
    ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules. On a
    machine without CUDA we initialise a ``gloo`` process group ourselves
    (mmengine then skips its own initialisation) and wrap the model with
    ``device_ids=None``. With CUDA, nothing changes: the usual NCCL path.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher == 'slurm':
        _slurm_env_to_torch_env(cfg)
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel')
    wrapper.device_ids = None
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'


def _slurm_env_to_torch_env(cfg: Config) -> None:
    """srun sets SLURM_* variables; torch's env:// init reads these."""
    import subprocess
    env = os.environ
    if 'SLURM_PROCID' not in env:
        raise UserInputError('--launcher slurm outside srun: SLURM_PROCID is '
                           'not set')
    env.setdefault('RANK', env['SLURM_PROCID'])
    env.setdefault('WORLD_SIZE', env['SLURM_NTASKS'])
    env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in env:
        node_list = env['SLURM_NODELIST']
        env['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
    port = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('port', 29500)
    env.setdefault('MASTER_PORT', str(port))


def build_cfg(args: argparse.Namespace,
              apply_args: Callable[[Config, argparse.Namespace], None]
              ) -> Config:
    """Load ``args.config`` and apply a train/test command line to it.

    The options both tools have: ``--cfg-options`` (each key checked),
    ``--work-dir`` (default: the config's, else
    ``./work_dirs/<config name>``) and ``--launcher``; ``apply_args(cfg,
    args)`` applies the tool's own (``--resume``, ``--out``, ...).

    Raises:
        FileNotFoundError: The config does not exist.
        UserInputError: A bad option, named.
    """
    from ..apis import load_config
    # Variables (pretrained, data_root, ...) applied while it is read.
    cfg = load_config(args.config, args.cfg_options, merge=False)
    merge_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    apply_args(cfg, args)
    setup_persistent_workers(cfg)
    setup_distributed(cfg, args.launcher)
    return cfg


def run_runner(args: argparse.Namespace,
               apply_args: Callable[[Config, argparse.Namespace], None],
               training: bool,
               prepare: Optional[Callable[[object], None]] = None) -> int:
    """What ``tools/train.py`` and ``tools/test.py`` run: :func:`build_cfg`,
    every check that can fail before the Runner
    (:func:`mmlcnetv2.cli.checks.check_before_run`), then mmengine's Runner
    (``prepare(runner)`` first, if given) trains or tests.

    Returns:
        int: The exit status: 0, or 2 for bad input (one line on stderr).
    """
    from ..utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    # Before the config is read: registers our modules, the `mmlcnetv2::`
    # config prefix and safe loading of Runner checkpoints.
    import mmlcnetv2  # noqa: F401
    from mmengine.runner import Runner

    from ..utils.denormals import describe_denormals
    from . import OK, bad_input
    from .checks import check_before_run
    try:
        cfg = build_cfg(args, apply_args)
        check_before_run(cfg, training=training)
    except (UserInputError, FileNotFoundError) as e:
        return bad_input(e)
    runner = Runner.from_cfg(cfg)
    runner.logger.info(describe_denormals())
    if prepare is not None:
        prepare(runner)
    if training:
        runner.train()
    else:
        runner.test()
    return OK
