# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Build every requested (model, precision), time them interleaved in
rounds, then throughput and torch eager; one result dict."""
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .machine import machine_info
from .report import goal_ratios, latency_stats, throughput_stats
from .timing import (async_throughput, compile_model, conv_kernels,
                     runtime_ops,
                     sync_latencies, torch_latencies, used_precision)
from .zoo import Entry, get_entries

from . import PRECISIONS  # noqa: E402  (one definition, torch-free)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, disable=not enabled, unit='step',
                dynamic_ncols=True)


def quantize_on_random_inputs(ov_model, shape: Sequence[int],
                              count: int = 16):
    """NNCF's default post-training quantization calibrated on ``count``
    random normal inputs of ``shape``: for timing only.

    Random inputs are enough to place the quantizers, which is all latency
    depends on; the scales they give are meaningless for accuracy. An int8
    model to ship is calibrated on real images by ``tools/deploy.py
    --precision int8`` (:mod:`mmlcnetv2.deploy.quantize`).

    Example:
        >>> int8 = quantize_on_random_inputs(ov_model, [1, 3, 224, 224])
    """
    import nncf
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(shape).astype(np.float32)
            for _ in range(count)]
    return nncf.quantize(ov_model, nncf.Dataset(data), subset_size=count)


def _int8_note(rows: Dict[str, Dict], isa: Sequence[str]) -> str:
    """What the int8 rows ran on: their conv kernels, and whether the CPU
    has int8 dot-product instructions (VNNI/AMX), which set how much int8
    can gain over f32."""
    kernels: Dict[str, int] = {}
    for row in rows.values():
        if row['precision'] == 'int8' and 'conv_kernels' in row:
            for k, n in row['conv_kernels'].items():
                kernels[k] = kernels.get(k, 0) + n
    if not kernels:
        return ''
    used = ', '.join(f'{k} ×{n}' for k, n in sorted(kernels.items()))
    dot = [f for f in ('avx_vnni', 'avx512_vnni', 'amx_int8') if f in isa]
    if dot:
        return (f"int8 rows: conv/FC kernels {used}; the CPU has "
                f"{', '.join(dot)} (one-instruction int8 dot products).")
    return (f"int8 rows: conv/FC kernels {used}. This CPU has no VNNI or "
            'AMX-INT8 (ISA: ' + (', '.join(isa) or 'unknown') + '): each '
            'int8 multiply-accumulate step takes three AVX2 instructions '
            '(vpmaddubsw, vpmaddwd, vpaddd) instead of one, so int8 gains '
            'far less over f32 than on VNNI/AMX CPUs.')


def _convert(entry: Entry, size: Tuple[int, int], work: str):
    """``(ov.Model, torch module or None)`` of an entry."""
    import openvino as ov
    if entry.source == 'paddle':
        return ov.Core().read_model(entry.build(size, work)), None
    module = entry.build(size)
    example = torch.randn(1, 3, *size)
    with torch.no_grad():
        ov_model = ov.convert_model(module, example_input=example,
                                    input=[ov.PartialShape([1, 3, *size])])
    return ov_model, module


def run_benchmark(names: Optional[List[str]] = None,
                  precisions: Sequence[str] = PRECISIONS,
                  threads: int = 2, rounds: int = 5, iters: int = 20,
                  round_time: float = 1.0, tput_time: float = 1.0,
                  cls_size: int = 224, torch_eager: bool = True,
                  progress: bool = True) -> Dict:
    """Run the benchmark; see ``tools/benchmark.py`` for the options.

    Example:
        >>> result = run_benchmark(['lcnetv2-small-fused'], ['f32'],
        ...                        rounds=2, iters=3)  # doctest: +SKIP
        >>> result['rows']['lcnetv2-small-fused@f32']['latency']['median_ms']

    Returns:
        dict: ``machine``, ``settings``, ``rows`` (per ``model@precision``),
        ``ratios`` (the goal pairs) and ``notes``.
    """
    import openvino as ov
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f'Unknown precision(s) {bad}; allowed {PRECISIONS}')
    if threads < 1 or rounds < 1 or iters < 1:
        raise ValueError(f'threads, rounds and iters must be >= 1, got '
                         f'{threads}, {rounds}, {iters}')
    entries = get_entries(names)
    machine = machine_info()
    notes: List[str] = []
    if 'bf16' in precisions and not machine['bf16_supported']:
        notes.append('bf16 rows skipped: this CPU reports '
                     f"OPTIMIZATION_CAPABILITIES = "
                     f"{', '.join(machine['cpu_capabilities'])} (no BF16).")
    core = ov.Core()
    rows: Dict[str, Dict] = {}
    compiled: Dict[str, Tuple] = {}   # key -> (latency compiled, input)
    graphs: Dict[str, object] = {}    # key -> ov.Model (for throughput)
    modules: Dict[str, Tuple] = {}    # entry name -> (torch module, input)
    work = tempfile.mkdtemp(prefix='mmlcnetv2-bench-')
    bar = _progress(len(entries), progress)
    try:
        # 1. Build, convert, quantize and compile everything first.
        for entry in entries:
            bar.set_description(f'build {entry.name}')
            size = entry.size or (cls_size, cls_size)
            shape = [1, 3, *size]
            wanted = [p for p in precisions
                      if p != 'int8' or entry.int8]
            try:
                ov_model, module = _convert(entry, size, work)
            except (ModuleNotFoundError, ImportError) as e:
                for p in wanted:
                    rows[f'{entry.name}@{p}'] = dict(
                        model=entry.name, precision=p, task=entry.task,
                        input_shape=shape, skipped=str(e).split('\n')[0])
                bar.update(1)
                continue
            if module is not None:
                modules[entry.name] = (module, torch.randn(*shape))
            x = np.random.default_rng(0).standard_normal(shape).astype(
                np.float32)
            for p in wanted:
                key = f'{entry.name}@{p}'
                row = dict(model=entry.name, precision=p, task=entry.task,
                           input_shape=shape, description=entry.description)
                rows[key] = row
                if p == 'bf16' and not machine['bf16_supported']:
                    row['skipped'] = 'CPU has no BF16'
                    continue
                model = (quantize_on_random_inputs(ov_model, shape)
                         if p == 'int8' else ov_model)
                c = compile_model(core, model, p, threads)
                row['used_precision'] = used_precision(c)
                if p == 'int8':
                    row['used_precision'] = (
                        f"int8 (float parts {row['used_precision']})")
                row['runtime_ops'] = runtime_ops(c)
                row['conv_kernels'] = conv_kernels(c)
                compiled[key] = (c, c.create_infer_request(), x)
                graphs[key] = model
            bar.update(1)
        keys = list(compiled)
        bar.reset(total=2 * rounds * len(keys) + len(modules))
        # 2. Latency: all models in every round, order rotated per round.
        samples: Dict[str, List[List[float]]] = {k: [] for k in keys}
        for r in range(rounds):
            shift = r % max(len(keys), 1)
            for key in keys[shift:] + keys[:shift]:
                bar.set_description(f'round {r + 1}/{rounds} {key}')
                _, request, x = compiled[key]
                samples[key].append(
                    sync_latencies(request, x, iters, round_time))
                bar.update(1)
        for key in keys:
            rows[key]['latency'] = latency_stats(samples[key])
        # 3. Throughput: THROUGHPUT hint, async requests, interleaved in
        # rounds like latency: one busy second must not move one model 2x.
        throughput_compiled = {}
        for key in keys:
            bar.set_description(f'compile throughput {key}')
            throughput_compiled[key] = compile_model(
                core, graphs[key], rows[key]['precision'], threads,
                hint='THROUGHPUT')
        tput: Dict[str, List[Dict]] = {k: [] for k in keys}
        for r in range(rounds):
            shift = r % max(len(keys), 1)
            for key in keys[shift:] + keys[:shift]:
                bar.set_description(f'throughput {r + 1}/{rounds} {key}')
                tput[key].append(async_throughput(
                    throughput_compiled[key], compiled[key][2], tput_time))
                bar.update(1)
        for key in keys:
            rows[key]['throughput'] = throughput_stats(tput[key])
        del throughput_compiled
        # 4. torch eager (f32) per model.
        for name, (module, x) in modules.items():
            bar.set_description(f'torch {name}')
            if torch_eager:
                times = torch_latencies(module, x, threads, iters, round_time)
                stats = dict(median_ms=float(np.median(times)),
                             samples=len(times))
                for row in rows.values():
                    if row['model'] == name and 'latency' in row:
                        row['torch'] = stats
            bar.update(1)
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    machine['load_average_start'] = machine.pop('load_average')
    try:
        machine['load_average_end'] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        machine['load_average_end'] = None
    result = dict(
        machine=machine,
        settings=dict(threads=threads, rounds=rounds, iters=iters,
                      round_time=round_time, tput_time=tput_time,
                      cls_size=cls_size, precisions=list(precisions)),
        rows=rows, notes=notes)
    result['ratios'] = goal_ratios(rows)
    note = _int8_note(rows, machine.get('isa') or [])
    if note:
        result['notes'].append(note)
    skipped = {r['skipped'] for r in rows.values() if 'skipped' in r}
    for s in sorted(skipped):
        if 'BF16' not in s:
            result['notes'].append(f'Skipped rows: {s}')
    return result
