#!/usr/bin/env python
"""Where do denormal floats come from in training? Count them.

    python benchmarks/experiments/count_denormals.py CONFIG [--every 10] \
        [--cfg-options train_cfg.max_epochs=3]

Trains with mmengine's Runner exactly as ``tools/train.py`` does (the
config's loop and schedule; shorten it with ``--cfg-options``), without
validation or checkpoints, with denormals *kept*, and counts the float32
values below 1.18e-38 (and not zero):

- in every operand of every aten op the iteration runs (forward, loss,
  label assignment, backward, optimizer step), through a
  ``TorchDispatchMode``: this is what an Intel core pays a microcode assist
  for, and it names the op;
- in the state after the iteration: parameters, gradients, buffers (BN
  statistics), optimizer state (e.g. AdamW's ``exp_avg_sq``).

Prints one line per iteration and, at the end, the ops and tensors holding
the most. This is how ``mmlcnetv2/utils/denormals.py``
found its answer; run it on your own config when training is slow on an
Intel CPU.
"""
import argparse
import os
import os.path as osp
import sys
from collections import Counter

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--work-dir', help='default: a temporary folder')
    p.add_argument('--every', type=int, default=1,
                   help='count in every N-th iteration only (the counting '
                   'is slow; the others train at full speed)')
    p.add_argument('--top', type=int, default=8,
                   help='how many tensors to list per kind at the end')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    if args.every < 1:
        p.error(f'--every must be >= 1, got {args.every}')
    return args


#: Normal but tiny: a kernel that multiplies such a value by anything below
#: ~1e-8 makes a denormal *inside* the kernel, which no op boundary shows.
NEAR = 1e-30


def count(t) -> int:
    """Non-zero float32 values below the smallest normal float32."""
    import torch
    if not torch.is_floating_point(t) or t.dtype != torch.float32:
        return 0
    return int(((t != 0) & (t.abs() < torch.finfo(t.dtype).tiny)).sum())


def count_near(t) -> int:
    """Normal float32 values below :data:`NEAR` (denormal when scaled)."""
    import torch
    if not torch.is_floating_point(t) or t.dtype != torch.float32:
        return 0
    a = t.abs()
    return int(((a >= torch.finfo(t.dtype).tiny) & (a < NEAR)).sum())


def main(argv=None) -> int:
    args = parse_args(argv)
    # Keep denormals: we want to see them, not flush them.
    os.environ['MMLCNETV2_DENORMALS'] = 'keep'
    import tempfile

    import torch
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    import mmlcnetv2  # noqa: F401
    from mmlcnetv2.apis import load_config
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.cli.runner_setup import merge_cfg_options
    from mmlcnetv2.errors import UserInputError
    from mmlcnetv2.utils.denormals import configure_denormals
    configure_denormals()  # 'keep'
    try:
        cfg = load_config(args.config, args.cfg_options, merge=False)
        merge_cfg_options(cfg, args.cfg_options)
    except (FileNotFoundError, UserInputError) as e:
        return bad_input(e)
    cfg.work_dir = args.work_dir or tempfile.mkdtemp(prefix='denormals-')
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    totals = {k: Counter() for k in ('param', 'grad', 'buffer', 'optimizer')}
    op_inputs, op_outputs, op_calls = Counter(), Counter(), Counter()
    op_near = Counter()

    class CountOperands(TorchDispatchMode):
        """Denormal values in the inputs and outputs of every aten op."""

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = str(func.overloadpacket.__name__)
            n_in = sum(count(t) for t in tree_flatten((args, kwargs))[0]
                       if isinstance(t, torch.Tensor))
            n_out = sum(count(t) for t in tree_flatten(out)[0]
                        if isinstance(t, torch.Tensor))
            op_inputs[name] += n_in
            op_outputs[name] += n_out
            op_near[name] += sum(count_near(t) for t in tree_flatten(
                (args, kwargs, out))[0] if isinstance(t, torch.Tensor))
            op_calls[name] += bool(n_in or n_out)
            return out

    class CountDenormals(Hook):
        """The dispatch mode around each iteration; state after it."""

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.mode = None
            if runner.iter % args.every:
                return
            self.seen = (sum(op_inputs.values()), sum(op_outputs.values()),
                         sum(op_near.values()))
            self.mode = CountOperands()
            self.mode.__enter__()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            if self.mode is None:
                return
            self.mode.__exit__(None, None, None)
            model = runner.model
            now = dict(param=Counter(), grad=Counter(), buffer=Counter(),
                       optimizer=Counter())
            names = {id(p): n for n, p in model.named_parameters()}
            for n, p in model.named_parameters():
                now['param'][n] = count(p.detach())
                if p.grad is not None:
                    now['grad'][n] = count(p.grad)
            for n, b in model.named_buffers():
                now['buffer'][n] = count(b)
            optim = runner.optim_wrapper.optimizer
            for p, state in optim.state.items():
                for key, v in state.items():
                    if isinstance(v, torch.Tensor):
                        now['optimizer'][f'{names.get(id(p), "?")}.{key}'] \
                            = count(v)
            ins = sum(op_inputs.values()) - self.seen[0]
            outs = sum(op_outputs.values()) - self.seen[1]
            near = sum(op_near.values()) - self.seen[2]
            print(f'iter {runner.iter + 1:4d}: op operands in {ins:,} / '
                  f'out {outs:,} (near-denormal < {NEAR:g}: {near:,}); '
                  'state: ' + ', '.join(
                      f'{k} {sum(c.values()):,}' for k, c in now.items()),
                  flush=True)
            totals.update(now)  # the last iteration's state

    runner = Runner.from_cfg(cfg)
    runner.register_hook(CountDenormals(), priority='LOWEST')
    runner.train()
    print(f'\nall iterations, the {args.top} aten ops with the most '
          'denormal operands (inputs, outputs, calls with any):')
    for name, n in (op_inputs + op_outputs).most_common(args.top):
        print(f'    {op_inputs[name]:14,d} {op_outputs[name]:14,d} '
              f'{op_calls[name]:8,d}  {name}')
    print(f'\nall iterations, the {args.top} aten ops with the most '
          f'near-denormal operands (normal, below {NEAR:g}):')
    for name, n in op_near.most_common(args.top):
        print(f'    {n:14,d}  {name}')
    print(f'\nlast iteration, the {args.top} tensors with the most '
          'denormal values per kind:')
    for kind, c in totals.items():
        top = [(n, v) for n, v in c.most_common(args.top) if v]
        print(f'  {kind}: ' + ('none' if not top else ''))
        for n, v in top:
            print(f'    {v:10,d}  {n}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
