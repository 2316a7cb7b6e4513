# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Every random state in the checkpoints, so that a resumed run continues
the one it resumes.

mmengine 0.10.7 saves the seed only: a resumed run seeds Python's, numpy's
and torch's generators afresh (its dropout masks and augmentations repeat
the first epoch's instead of continuing), and its sampler shuffles with the
seed of the new process when the config sets none.
"""
import random
from functools import partial
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

#: Where the states go in a checkpoint's ``meta``.
META_KEY = 'random_state'


def _numpy_state() -> dict:
    """numpy's global state as plain numbers (torch's safe loading refuses
    numpy's uint32 arrays)."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    return dict(name=name, key=[int(k) for k in key], pos=int(pos),
                has_gauss=int(has_gauss), gauss=float(gauss))


def _set_numpy_state(state: dict) -> None:
    np.random.set_state((state['name'], np.array(state['key'],
                                                 dtype=np.uint32),
                         state['pos'], state['has_gauss'], state['gauss']))


def _sampler(loader) -> Optional[object]:
    """The sampler of indices (inside a batch sampler, if there is one)."""
    batch_sampler = getattr(loader, 'batch_sampler', None)
    inner = getattr(batch_sampler, 'sampler', None)
    return inner if inner is not None and hasattr(inner, 'seed') else \
        getattr(loader, 'sampler', None)


def get_random_state(loader=None) -> Dict[str, Any]:
    """The global generators' states, and those of ``loader`` (a training
    DataLoader): its ``generator``, its sampler's seed and generator.

    Only tensors and plain numbers, which load under torch's safe loading.
    """
    state: Dict[str, Any] = dict(
        python=random.getstate(), numpy=_numpy_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    generator = getattr(loader, 'generator', None)
    if isinstance(generator, torch.Generator):
        state['loader_generator'] = generator.get_state()
    sampler = _sampler(loader)
    if isinstance(getattr(sampler, 'seed', None), int):
        state['sampler_seed'] = sampler.seed
    if isinstance(getattr(sampler, 'generator', None), torch.Generator):
        state['sampler_generator'] = sampler.generator.get_state()
    return state


def _restore_sampler_seed(loader, seed: int) -> None:
    """Give ``loader``'s sampler and workers the seed of the saved run.

    mmengine builds the sampler (and the workers' ``worker_init_fn``) with
    the runner's seed before it loads a checkpoint; where the new process
    drew another seed (none in the config), the order of the samples and
    the workers' augmentations would differ from the saved run's.
    """
    sampler = _sampler(loader)
    if sampler is None or getattr(sampler, 'seed', seed) == seed:
        return
    sampler.seed = seed
    if hasattr(sampler, '_indices_of_rank'):
        # mmengine's InfiniteSampler draws its endless order at __init__.
        sampler.indices = sampler._indices_of_rank()
    init_fn = getattr(loader, 'worker_init_fn', None)
    if isinstance(init_fn, partial) and 'seed' in init_fn.keywords:
        loader.worker_init_fn = partial(init_fn.func, *init_fn.args,
                                        **{**init_fn.keywords, 'seed': seed})


def set_random_state(state: Dict[str, Any], loader=None) -> None:
    """Restore what :func:`get_random_state` returned."""
    python = state['python']  # a list after some serialisations
    random.setstate((python[0], tuple(python[1]), python[2]))
    _set_numpy_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    generator = getattr(loader, 'generator', None)
    if 'loader_generator' in state and isinstance(generator,
                                                   torch.Generator):
        generator.set_state(state['loader_generator'])
    if 'sampler_seed' in state:
        _restore_sampler_seed(loader, state['sampler_seed'])
    sampler = _sampler(loader)
    if 'sampler_generator' in state and isinstance(
            getattr(sampler, 'generator', None), torch.Generator):
        sampler.generator.set_state(state['sampler_generator'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save every random state in the checkpoints; restore it on resume.

    Saved: Python's ``random``, numpy's and torch's (and CUDA's) global
    generators, the training DataLoader's ``generator``, its sampler's seed
    and generator. They are restored where the saved run stood when it
    saved: before the next epoch for a checkpoint saved at the end of an
    epoch, before the next iteration for one saved after an iteration. So a
    resumed seeded run draws the same numbers as the run it resumes (same
    dropout masks, shuffles and main-process augmentations).

    Validation draws from the same global generators (the val DataLoader
    draws a seed from torch's); it gets its own draws here: the states are
    put back after each validation, so that whether, and how often, a run
    validates does not change its training.

    In a distributed run every rank takes the states rank 0 saved (the
    ranks share their seed), except with ``randomness.diff_rank_seed``,
    where they keep their own.

    Not restorable: the state of persistent DataLoader workers
    (``persistent_workers=True``), which live in other processes; a resumed
    run's workers start from their seeds again (one line says so).

    ``tools/train.py`` adds this hook to every training run.

    Example:
        >>> custom_hooks = [dict(type='RandomStateHook')]
    """

    # Above CheckpointHook (VERY_LOW): after_train_iter/after_train_epoch
    # see where the run stands before CheckpointHook saves there.
    priority = 'NORMAL'

    def __init__(self) -> None:
        self._saved_at = 'iter'
        self._pending: Optional[Dict[str, Any]] = None
        self._outside_val: Optional[Dict[str, Any]] = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._saved_at = 'iter'

    def after_train_epoch(self, runner) -> None:
        self._saved_at = 'epoch'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = get_random_state(runner.train_dataloader)
        state['restore_before'] = self._saved_at
        checkpoint.setdefault('meta', {})[META_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        state = meta.get(META_KEY)
        if state is None:
            print_log(
                'the checkpoint holds no random state (saved without '
                'RandomStateHook): the resumed run draws other random '
                'numbers than the run it resumes', logger='current')
            return
        # Applied once the loop stands where the saved run stood; a
        # checkpoint loaded to fine-tune (load_from) starts at iteration 0
        # and is never applied.
        self._pending = dict(state, iter=meta.get('iter'))

    def _restore(self, runner, where: str) -> None:
        state = self._pending
        if state is None or state['restore_before'] != where:
            return
        self._pending = None
        if runner.iter != state['iter']:
            return
        loader = runner.train_dataloader
        randomness = runner.cfg.get('randomness') or {}
        if runner.world_size > 1 and randomness.get('diff_rank_seed'):
            # Rank 0 saved its own states; the other ranks must not take
            # them. The sampler's seed is shared by all ranks.
            if 'sampler_seed' in state:
                _restore_sampler_seed(loader, state['sampler_seed'])
            print_log('random state not restored: with '
                      'randomness.diff_rank_seed each rank has its own, and '
                      'the checkpoint holds rank 0\'s', logger='current')
            return
        set_random_state(state, loader)
        message = 'random state restored from the checkpoint'
        if getattr(loader, 'persistent_workers', False) and getattr(
                loader, 'num_workers', 0) > 0:
            message += ('; the persistent DataLoader workers start from '
                        'their seeds again (their state is not restorable: '
                        'their augmentations differ from the saved run\'s)')
        print_log(message, logger='current')

    def before_train_epoch(self, runner) -> None:
        self._restore(runner, 'epoch')

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._restore(runner, 'iter')

    def before_val(self, runner) -> None:
        self._outside_val = get_random_state()

    def after_val(self, runner) -> None:
        if self._outside_val is not None:
            set_random_state(self._outside_val)
            self._outside_val = None
