# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Flush denormal floats to zero in torch on the CPU (on by default).

Why: a float32 below 1.18e-38 is *denormal*. Intel cores take a microcode
assist for every denormal operand (~100 cycles), AMD cores far less. Training
the shapes demo detector on a 2-core Xeon ran at 8.6-11.3 s/iter as shipped
and 0.49 s/iter with flush-to-zero, with the same losses to 4 digits.

Where they come from (``benchmarks/experiments/count_denormals.py``: the demo
detector through mmengine's Runner, the config's own schedule, denormals
kept): not from any tensor a user can see. On an AMD EPYC (Zen 4, AVX-512),
over 3 epochs (300 iterations, every 25th counted), no parameter, gradient,
BN statistic or AdamW state, and no input or output of any aten op
(forward, loss, label assignment, backward, optimizer step) was denormal;
the only values even below 1e-30 were 126 in the first iteration's AdamW
``exp_avg_sq`` update (``addcmul_``/``sqrt`` of squared gradients). What an
Intel core pays for must therefore live inside kernels (partial products
and sums in oneDNN's convolutions, the vectorised exp/log of the sigmoid
focal loss), where an op-level count cannot look and which AMD does not
slow down; that ``init_weights()`` decides it (RetinaNet's prior-probability
bias and std-0.01 head make almost every anchor an easy negative with tiny
loss gradients) fits this. The initialisation is the standard one, not
wrong, and flushing changes results by nothing measurable (same losses to 4
digits over 40 iterations on a Xeon). On a second Xeon with AMX (another
generation, 2026-12-02) the same count found no denormal tensor or operand
either, and keeping them cost nothing (a detector step 0.99x the flushed
one, ``benchmarks/experiments/measure_train_step.py``): the penalty
depends on the core, so flushing stays the default for the cores that pay it.

How: ``torch.set_flush_denormal(True)`` sets the FTZ and DAZ bits of the
calling thread's MXCSR. Threads inherit the floating-point environment of
the thread that creates them, so this must run before torch's intra-op
(OpenMP) thread pool exists, i.e. at the start of a process, before any
parallel tensor operation. Our tools call :func:`configure_denormals` first
thing; ``dist_train.sh`` ranks run ``tools/train.py`` and so do the same.

Turn it off with the environment variable ``MMLCNETV2_DENORMALS=keep``
(e.g. to reproduce a result bit for bit from a run without it).
"""
import os
import sys
import warnings

ENV_VAR = 'MMLCNETV2_DENORMALS'
CHOICES = ('flush', 'keep')


def denormals_mode() -> str:
    """``'flush'`` (the default) or ``'keep'``, from ``MMLCNETV2_DENORMALS``.

    Raises:
        ValueError: The variable holds something else.
    """
    mode = os.environ.get(ENV_VAR, 'flush').strip().lower() or 'flush'
    if mode not in CHOICES:
        raise ValueError(f'{ENV_VAR}={os.environ[ENV_VAR]!r}: allowed '
                         f'values are {", ".join(CHOICES)}')
    return mode


def configure_denormals() -> bool:
    """Flush denormals to zero in this process unless the user kept them.

    Call it at the start of a process, before torch runs any parallel
    operation (see the module docstring for why).

    Returns:
        bool: Whether flush-to-zero is now on.

    Example:
        >>> from mmlcnetv2.utils.denormals import configure_denormals
        >>> configure_denormals()
        True
    """
    import torch
    if denormals_mode() == 'keep':
        torch.set_flush_denormal(False)
        return False
    if not torch.set_flush_denormal(True):  # a CPU without SSE3
        warnings.warn('this CPU cannot flush denormals to zero')
        return False
    return True


def configure_denormals_or_exit() -> bool:
    """:func:`configure_denormals` for a command-line tool's ``main``.

    A bad ``MMLCNETV2_DENORMALS`` is one line on stderr and exit status 2,
    like every other bad input to our tools.
    """
    try:
        return configure_denormals()
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        raise SystemExit(2) from None


def denormals_flushed() -> bool:
    """Whether every thread of torch's pool flushes denormals to zero.

    Measured, not remembered: a denormal tensor large enough to be split
    over all intra-op threads is doubled; any thread without FTZ/DAZ leaves
    its share non-zero.
    """
    import torch
    tiny = torch.full((1 << 20, ), 1e-39)  # denormal in float32
    return bool(torch.mul(tiny, 2).eq(0).all())


def describe_denormals() -> str:
    """One line for logs: what this process does with denormals."""
    if denormals_flushed():
        return (f'denormals: flushed to zero in every torch thread '
                f'({ENV_VAR}=keep to keep them)')
    return f'denormals: kept ({ENV_VAR}={denormals_mode()})'

