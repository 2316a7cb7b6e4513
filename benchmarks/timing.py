# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Timing primitives: OpenVINO compile, sync latency, async throughput,
torch eager latency. Each returns raw times; statistics live in
:mod:`.report`."""
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Sequence, Union

import numpy as np
import torch

#: ``--precisions`` names -> OpenVINO ``INFERENCE_PRECISION_HINT``. int8
#: models are quantized graphs; their float parts run at f32.
PRECISION_HINTS = dict(f32='f32', bf16='bf16', int8='f32')


def compile_model(core, model, precision: str, threads: int,
                  hint: str = 'LATENCY'):
    """Compile for CPU with a fixed thread count and precision."""
    config = {
        'PERFORMANCE_HINT': hint,
        'INFERENCE_NUM_THREADS': int(threads),
        'INFERENCE_PRECISION_HINT': PRECISION_HINTS[precision],
    }
    if hint == 'LATENCY':
        config['NUM_STREAMS'] = 1
    return core.compile_model(model, 'CPU', config)


def used_precision(compiled) -> str:
    """``INFERENCE_PRECISION_HINT`` read back from a compiled model."""
    value = compiled.get_property('INFERENCE_PRECISION_HINT')
    return getattr(value, 'type_name', None) or str(value)


def runtime_ops(compiled) -> Dict[str, int]:
    """Counts of the compiled graph's layer types (``Reshape``,
    ``Eltwise``, ``Subgraph``...): shows what the CPU plugin fused."""
    return dict(Counter(
        op.get_rt_info()['layerType'].astype(str)
        for op in compiled.get_runtime_model().get_ordered_ops()))


def conv_kernels(compiled) -> Dict[str, int]:
    """Counts of the kernels (``primitiveType``, e.g. ``jit_avx2_1x1_I8``,
    ``brgconv_avx512_1x1_I8``) that run the convolutions and fully
    connected layers: shows whether int8 layers really run in int8 and
    with which instruction set."""
    kinds = ('Convolution', 'GroupConvolution', 'FullyConnected')
    out: Counter = Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info['layerType'].astype(str) in kinds:
            out[info['primitiveType'].astype(str)] += 1
    return dict(out)


#: What a row feeds its model: the image array (the model's one input), or
#: one array per input in order (a detector's ``img_shape`` second input).
Inputs = Union[np.ndarray, Sequence[np.ndarray]]


def ov_inputs(inputs: Inputs):
    """``inputs`` as an infer request takes them."""
    return list(inputs) if isinstance(inputs, (list, tuple)) \
        else {0: inputs}


def call_latencies(call: Callable[[], Any], iters: int, max_time: float,
                   min_iters: int = 3) -> List[float]:
    """Up to ``iters`` timed calls of ``call()`` (ms) after one warm-up,
    stopping early after ``max_time`` seconds (but never below
    ``min_iters``): slow detection models then take few samples a round.

    Example:
        >>> times = call_latencies(lambda: sum(range(1000)), 5, 1.0)
        >>> len(times)
        5
    """
    call()
    times: List[float] = []
    start = time.perf_counter()
    for i in range(iters):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
        if i + 1 >= min_iters and time.perf_counter() - start > max_time:
            break
    return times


def sync_latencies(request, inputs: Inputs, iters: int,
                   max_time: float, min_iters: int = 3) -> List[float]:
    """Synchronous inferences of ``inputs`` timed by
    :func:`call_latencies` (ms)."""
    feed = ov_inputs(inputs)
    return call_latencies(lambda: request.infer(feed), iters, max_time,
                          min_iters)


def async_throughput(compiled, inputs: Inputs, duration: float) -> Dict:
    """Images per second with ``AsyncInferQueue`` (the compiled model's
    optimal number of requests) for about ``duration`` seconds."""
    import openvino as ov
    nireq = int(compiled.get_property('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))
    queue = ov.AsyncInferQueue(compiled, nireq)
    feed = ov_inputs(inputs)
    for _ in range(nireq):  # warm-up: one inference per request
        queue.start_async(feed)
    queue.wait_all()
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < duration or count < nireq:
        queue.start_async(feed)
        count += 1
    queue.wait_all()
    elapsed = time.perf_counter() - start
    return dict(fps=count / elapsed, requests=nireq, images=count)


def torch_latencies(module: torch.nn.Module,
                    inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                    threads: int, iters: int, max_time: float) -> List[float]:
    """Eager-mode latencies (ms) with ``torch.set_num_threads(threads)``;
    ``inputs``: one tensor, or one per argument."""
    args = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            module(*args)
            times: List[float] = []
            start = time.perf_counter()
            for i in range(iters):
                t0 = time.perf_counter()
                module(*args)
                times.append((time.perf_counter() - t0) * 1e3)
                if i >= 1 and time.perf_counter() - start > max_time:
                    break
    finally:
        torch.set_num_threads(old)
    return times
