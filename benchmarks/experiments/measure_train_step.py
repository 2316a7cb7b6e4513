#!/usr/bin/env python
"""What does a training step cost: f32, denormals kept, bf16 autocast?

    python benchmarks/experiments/measure_train_step.py CONFIG [--steps 20] \
        [--modes flush keep bf16] [--json out.json]

Builds the config's model, optimizer and train dataloader with mmengine's
Runner, initialises the weights as ``tools/train.py`` does
(``init_weights()``: the denormals of issue 11 depend on it), and then runs
real training steps (``model.train_step``: data preprocessor, forward,
loss, backward, optimizer step; the config's iteration-based learning-rate
schedule, warm-up included, steps once per round) round-robin over the
modes, one step each per round, so a change in machine load hits every mode
alike:

* ``flush``: f32, denormals flushed to zero (what our tools do);
* ``keep``: f32, denormals kept (``MMLCNETV2_DENORMALS=keep``);
* ``bf16``: f32 master weights, forward under CPU bf16 autocast
  (``--amp`` on a CPU: ``BF16AutocastOptimWrapper``), denormals flushed.

It runs on one torch thread: flush-to-zero is a per-thread CPU flag, and
one thread is the only way to switch it step by step. The first
``--warmup`` rounds are not timed. Prints the median seconds per step of
each mode and its ratio to ``flush`` (median of the per-round ratios).

``--profile N`` then runs N more steps per mode under ``torch.profiler`` and
prints the aten ops whose self CPU time per step differs most from
``flush``: with ``keep`` on an Intel core, that names the kernels that take
the denormal microcode assists (an op-level value count,
``count_denormals.py``, cannot see partial sums inside a kernel).
"""
import argparse
import copy
import json
import os.path as osp
import sys
import tempfile
import time
from statistics import median

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

MODES = ('flush', 'keep', 'bf16')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--steps', type=int, default=20,
                   help='timed steps per mode')
    p.add_argument('--warmup', type=int, default=2,
                   help='untimed rounds first')
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES)
    p.add_argument('--profile', type=int, default=0, metavar='N',
                   help='then profile N more steps per mode (torch.profiler) '
                   'and print the ops whose self time differs most from '
                   'flush: where denormals cost, op by op')
    p.add_argument('--top', type=int, default=12,
                   help='ops printed by --profile')
    p.add_argument('--json', help='also write the results here')
    return p.parse_args(argv)


def build(config: str):
    """(model, f32 optim wrapper, bf16 optim wrapper, batch iterator,
    iteration-based param schedulers)."""
    from mmengine.optim import OptimWrapper
    from mmengine.runner import Runner

    from mmlcnetv2.apis import load_config
    from mmlcnetv2.errors import UserInputError
    cfg = load_config(config)
    cfg.work_dir = tempfile.mkdtemp(prefix='train-step-')  # logs only
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    # Batches loaded in this process: worker processes would compete with
    # the one-thread step for the cores while it is being timed.
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    if type(wrapper) is not OptimWrapper:
        raise UserInputError(
            f'{config}: optim_wrapper is {type(wrapper).__name__}; this tool '
            'times f32 against bf16 itself and needs a plain OptimWrapper')
    runner.optim_wrapper = wrapper
    # The schedule too: the warm-up's small learning rates shape the first
    # steps' values (and so their denormals).
    schedulers = []
    if runner.param_schedulers is not None:
        runner.param_schedulers = runner.build_param_scheduler(
            runner.param_schedulers)
        schedulers = [s for s in runner.param_schedulers if not s.by_epoch]
    runner._init_model_weights()
    # Hooks that change how the model computes (not what it logs or saves),
    # as the Runner would before training.
    from mmlcnetv2.engine import ChannelsLastHook
    for hook in runner.hooks:
        if isinstance(hook, ChannelsLastHook):
            hook.before_train(runner)
    # The config's wrapper once more as bf16 autocast (its clipping and
    # accumulation as they are), then the same optimizer in it: one set of
    # weights and moments, two forward contexts.
    bf16 = runner.build_optim_wrapper(dict(
        copy.deepcopy(cfg.optim_wrapper), type='BF16AutocastOptimWrapper'))
    bf16.optimizer = wrapper.optimizer

    def batches():
        while True:
            yield from runner.train_loop.dataloader

    runner.model.train()
    return runner.model, wrapper, bf16, batches(), schedulers


def profile_ops(model, wrappers, modes, batches, steps: int) -> dict:
    """mode -> {aten op: self CPU ms per step}, round-robin like the timing."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    totals = {m: {} for m in modes}
    for _ in range(steps):
        for mode in modes:
            data = next(batches)
            torch.set_flush_denormal(mode != 'keep')
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                model.train_step(data, wrappers[mode])
            for event in prof.key_averages():
                ms = event.self_cpu_time_total / 1e3 / steps
                totals[mode][event.key] = totals[mode].get(event.key, 0) + ms
    return totals


def print_profile_diff(profiles: dict, top: int) -> None:
    base = profiles['flush']
    for mode, ops in profiles.items():
        if mode == 'flush':
            continue
        diff = {k: v - base.get(k, 0.0) for k, v in ops.items()}
        print(f'\n{mode} vs flush: the {top} ops whose self CPU time per '
              'step grew most (ms: flush -> ' + mode + ')')
        for key, d in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
            print(f'    {base.get(key, 0.0):9.1f} -> {ops[key]:9.1f}  '
                  f'(+{d:.1f})  {key}')
        print(f'    total self time: {sum(base.values()):.1f} -> '
              f'{sum(ops.values()):.1f} ms per step')


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.cli import bad_input
    if not osp.isfile(args.config):
        return bad_input(f'config {args.config!r}: no such file')
    if args.steps < 1 or args.warmup < 0:
        return bad_input(f'--steps must be >= 1 and --warmup >= 0, got '
                         f'{args.steps} and {args.warmup}')
    import torch
    torch.set_num_threads(1)  # before any parallel op: see the docstring
    import mmlcnetv2  # noqa: F401
    from mmlcnetv2.utils.machine import machine_info
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    from mmlcnetv2.errors import UserInputError
    ignore_known_upstream_warnings()
    try:
        model, f32, bf16, batches, schedulers = build(args.config)
    except (FileNotFoundError, UserInputError) as e:
        return bad_input(e)
    wrappers = dict(flush=f32, keep=f32, bf16=bf16)
    times = {m: [] for m in args.modes}
    losses = {m: [] for m in args.modes}
    for step in range(args.warmup + args.steps):
        for mode in args.modes:
            data = next(batches)
            torch.set_flush_denormal(mode != 'keep')
            t = time.perf_counter()
            out = model.train_step(data, wrappers[mode])
            elapsed = time.perf_counter() - t
            if step >= args.warmup:
                times[mode].append(elapsed)
                losses[mode].append(float(out['loss'].detach()))
        for scheduler in schedulers:  # one optimizer: one step per round
            scheduler.step()
    profiles = {}
    if args.profile:
        profiles = profile_ops(model, wrappers, args.modes, batches,
                               args.profile)
    torch.set_flush_denormal(True)
    rows = {}
    for mode in args.modes:
        row = dict(s_per_step=round(median(times[mode]), 4),
                   steps=len(times[mode]),
                   last_loss=round(losses[mode][-1], 4))
        if 'flush' in times and mode != 'flush':
            row['ratio_to_flush'] = round(median([
                a / b for a, b in zip(times[mode], times['flush'])]), 3)
        rows[mode] = row
        print(f'{mode:>5}: {row["s_per_step"]:.3f} s/step over '
              f'{row["steps"]} steps' + (
                  f', {row["ratio_to_flush"]:.2f}x flush'
                  if 'ratio_to_flush' in row else ''), flush=True)
    if profiles and 'flush' in profiles:
        print_profile_diff(profiles, args.top)
    machine = machine_info()
    if args.json:
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(dict(config=args.config, threads=1,
                           machine=dict(cpu=machine['cpu'],
                                        isa=machine['isa'],
                                        load_average=machine['load_average']),
                           rows=rows,
                           ops_ms_per_step={m: dict(sorted(
                               p.items(), key=lambda kv: -kv[1])[:40])
                               for m, p in profiles.items()}), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
