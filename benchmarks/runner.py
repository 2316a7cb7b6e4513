# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Build every requested (model, precision), time them interleaved in
rounds, then throughput and torch eager; one result dict.

:func:`run_benchmark` runs four phases, one function each: build
(:func:`_build_rows`: every row converted, quantized, compiled, as a
:class:`Timed`), sync latency (:func:`time_latency`), async throughput
(:func:`_time_throughput`), torch eager (:func:`_time_torch`); the two OpenVINO
phases interleave all rows in rounds (:func:`_in_rounds`). The end-to-end
rows (:mod:`.end_to_end`) are built in the same phase and timed in the same
latency rounds; throughput and torch skip them.
"""
import os
import os.path as osp
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .anchors import anchor_ratios
from mmlcnetv2.utils.machine import machine_info
from .report import (IQR_LIMIT, goal_ratios, latency_stats, noisy,
                     throughput_stats)
from .timing import (Inputs, async_throughput, compile_model, conv_kernels,
                     ov_inputs, runtime_ops, sync_latencies, torch_latencies,
                     used_precision)
from .end_to_end import EndToEndBuilder
from .zoo import Entry, Ours, export_ir, get_entries, random_image

from . import PRECISIONS  # noqa: E402  (one definition, torch-free)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, disable=not enabled, unit='step',
                dynamic_ncols=True)


def quantize_on_random_inputs(ov_model, shape: Sequence[int],
                              count: int = 16,
                              fixed: Sequence[np.ndarray] = ()):
    """NNCF's default post-training quantization calibrated on ``count``
    random normal inputs of ``shape`` (followed by the ``fixed`` arrays
    for a model's further inputs): for timing only.

    Random inputs are enough to place the quantizers, which is all latency
    depends on; the scales they give are meaningless for accuracy. An int8
    model to ship is calibrated on real images by ``tools/deploy.py
    --precision int8`` (:mod:`mmlcnetv2.deploy.exporting.quantize`).

    Example:
        >>> int8 = quantize_on_random_inputs(ov_model, [1, 3, 224, 224])
    """
    import nncf
    rng = np.random.default_rng(0)
    data = [rng.standard_normal(shape).astype(np.float32)
            for _ in range(count)]
    if fixed:
        data = [[x, *fixed] for x in data]
    return nncf.quantize(ov_model, nncf.Dataset(data), subset_size=count)


def int8_note(rows: Dict[str, Dict], isa: Sequence[str]) -> str:
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


def entry_inputs(entry: Entry, size: Tuple[int, int]) -> Inputs:
    """What a row feeds its model: a seeded random normal image batch of
    one, and for an entry with an ``img_shape`` input (a detector as
    ``tools/deploy.py`` exports it) the image's size."""
    x = random_image(size)
    if entry.img_shape_input:
        return [x, np.array([size], np.float32)]
    return x


@dataclass
class Graphs:
    """An entry's graphs, one per precision, and its torch module.

    Ours (:class:`~.zoo.Ours`) are the IRs :func:`~.zoo.export_ir` writes:
    ``tools/deploy.py``'s code, its int8 export for the int8 rows. The
    others are converted here (``openvino.convert_model``, or read from
    the anchor's ONNX file), and their int8 rows are that graph quantized
    on random inputs (:func:`quantize_on_random_inputs`).

    Attributes:
        f32: The float graph (f32 and bf16 rows compile it).
        int8: Makes the int8 graph (called once, for an int8 row).
        module: The torch module (None: an ONNX anchor).
        planted: How many candidates were planted to enter the NMS.
        exported: Whether the graphs are exports of ours.
    """
    f32: Any
    int8: Callable[[], Any]
    module: Optional[torch.nn.Module] = None
    planted: Optional[int] = None
    exported: bool = False

    def __post_init__(self) -> None:
        self._int8 = None

    def graph(self, precision: str):
        """The graph a row of ``precision`` compiles."""
        if precision != 'int8':
            return self.f32
        if self._int8 is None:
            self._int8 = self.int8()
        return self._int8


def _export_graphs(ours: Ours, entry: Entry, size: Tuple[int, int],
                   work: str) -> Graphs:
    """The IRs of ours that :func:`~.zoo.export_ir` writes: static at
    ``size``, the float input form (fed, like every row, a normalized
    tensor), no Model API form (a file beside the IR, not timed)."""
    import openvino as ov
    options = dict(shape=size, dynamic=False, input_form='float',
                   model_api=False)

    def read(precision: str):
        folder = osp.join(work, f'{entry.name}-{precision}')
        return ov.Core().read_model(export_ir(
            ours.model, ours.config, folder, precision=precision,
            **options))

    return Graphs(read('f32'), lambda: read('int8'), ours.module,
                  ours.planted, exported=True)


def entry_graphs(entry: Entry, size: Tuple[int, int], work: str,
             inputs: Optional[Inputs] = None) -> Graphs:
    """The :class:`Graphs` of an entry, with the static shapes of
    ``inputs`` (default: :func:`entry_inputs`)."""
    import openvino as ov
    if inputs is None:
        inputs = entry_inputs(entry, size)
    shape = list(np.shape(inputs[0] if isinstance(inputs, list) else inputs))
    fixed = inputs[1:] if isinstance(inputs, list) else ()

    def quantized(ov_model) -> Callable[[], Any]:
        return lambda: quantize_on_random_inputs(ov_model, shape,
                                                 fixed=fixed)

    if entry.source == 'paddle':
        ov_model = ov.Core().read_model(entry.build(size, work))
        return Graphs(ov_model, quantized(ov_model))
    # The same random weights every run: what a -nms row's NMS gets
    # through (its recorded detections) then does not vary between runs.
    torch.manual_seed(0)
    built = entry.build(size)
    if isinstance(built, Ours):
        return _export_graphs(built, entry, size, work)
    arrays = inputs if isinstance(inputs, list) else [inputs]
    example = tuple(torch.from_numpy(a) for a in arrays)
    with torch.no_grad():
        ov_model = ov.convert_model(
            built, example_input=example if len(example) > 1 else example[0],
            input=[ov.PartialShape(list(a.shape)) for a in arrays])
    return Graphs(ov_model, quantized(ov_model), built,
                  getattr(built, 'planted_candidates', None))


@dataclass
class Timed:
    """A row ready to time: the model compiled for latency, its request and
    input, and the graph that the throughput phase compiles again.

    The latency phase asks every row only for :meth:`latencies`: a new kind
    of row (say, end to end from an image file) is another class with that
    method, built by the build phase, and timed in the same rounds.
    """
    compiled: Any
    request: Any
    inputs: Inputs
    graph: Any  # the ov.Model (quantized for int8)
    precision: str

    def latencies(self, iters: int, max_time: float) -> List[float]:
        """One round's sync latencies (ms); see :func:`.sync_latencies`."""
        return sync_latencies(self.request, self.inputs, iters, max_time)


def _check_args(precisions: Sequence[str], threads: int, rounds: int,
                iters: int, max_rounds: int) -> None:
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f'Unknown precision(s) {bad}; allowed {PRECISIONS}')
    if threads < 1 or rounds < 1 or iters < 1:
        raise ValueError(f'threads, rounds and iters must be >= 1, got '
                         f'{threads}, {rounds}, {iters}')
    if max_rounds < rounds:
        raise ValueError(f'max_rounds must be >= rounds ({rounds}), got '
                         f'{max_rounds}')


def _compile_row(core, graphs: Graphs, row: Dict, threads: int,
                 inputs: Inputs) -> Timed:
    """Compile one row's graph; record in ``row`` what the CPU plugin made
    of it."""
    p = row['precision']
    model = graphs.graph(p)
    c = compile_model(core, model, p, threads)
    row['used_precision'] = used_precision(c)
    if p == 'int8':
        row['used_precision'] = f"int8 (float parts {row['used_precision']})"
    row['runtime_ops'] = runtime_ops(c)
    row['conv_kernels'] = conv_kernels(c)
    return Timed(c, c.create_infer_request(), inputs, model, p)


def count_detections(timed: Timed) -> int:
    """How many detections a graph with NMS returned on its timed input:
    rows of its first output (``[1, K, >= 5]``, box then score, padded
    with score 0) with a positive score. NMS costs what gets through."""
    dets = timed.request.infer(ov_inputs(timed.inputs))[0]
    return int((dets[..., 4] > 0).sum())


def _build_end_to_end(entry: Entry, precisions: Sequence[str], bf16: bool,
                      builder, rows: Dict, timed: Dict) -> None:
    """Phase 1 for an end-to-end entry: its rows (f32/bf16; skipped ones
    say why), a :class:`~.end_to_end.Called` per measurable row."""
    for p in [p for p in precisions if p != 'int8']:
        key = f'{entry.name}@{p}'
        rows[key] = dict(model=entry.name, precision=p, task=entry.task,
                         mode=entry.mode, description=entry.description)
        if p == 'bf16' and not bf16:
            rows[key]['skipped'] = 'CPU has no BF16'
            continue
        try:
            timed[key] = builder.build(entry, p, rows[key])
        except (ModuleNotFoundError, ImportError) as e:
            rows[key]['skipped'] = str(e).split('\n')[0]


def _build_entry(entry: Entry, precisions: Sequence[str], cls_size: int,
                 core, threads: int, bf16: bool, work: str, rows: Dict,
                 timed: Dict, modules: Dict) -> None:
    """Phase 1 for one network entry: its rows (skipped ones say why), a
    :class:`Timed` per measurable row, its torch module."""
    size = entry.size or (cls_size, cls_size)
    shape = [1, 3, *size]
    wanted = [p for p in precisions if p != 'int8' or entry.int8]
    inputs = entry_inputs(entry, size)
    try:
        graphs = entry_graphs(entry, size, work, inputs)
    except (ModuleNotFoundError, ImportError) as e:
        for p in wanted:
            rows[f'{entry.name}@{p}'] = dict(
                model=entry.name, precision=p, task=entry.task,
                input_shape=shape, skipped=str(e).split('\n')[0])
        return
    planted = graphs.planted
    if graphs.module is not None:
        tensors = [torch.from_numpy(a) for a in (
            inputs if isinstance(inputs, list) else [inputs])]
        modules[entry.name] = (graphs.module, tensors)
    for p in wanted:
        key = f'{entry.name}@{p}'
        rows[key] = dict(model=entry.name, precision=p, task=entry.task,
                         input_shape=shape, description=entry.description)
        if entry.published is not None:
            rows[key]['published'] = asdict(entry.published)
        if 'anchor' in entry.tags:
            rows[key]['anchor'] = True
        if 'ours' in entry.tags:
            rows[key]['ours'] = True
        if graphs.exported:  # the IR tools/deploy.py writes
            rows[key]['exported'] = True
        if entry.counts_detections:
            rows[key]['nms'] = True  # the graph ends in NMS
        if planted is not None:  # entering NMS, in torch f32
            rows[key]['candidates'] = planted
        if p == 'bf16' and not bf16:
            rows[key]['skipped'] = 'CPU has no BF16'
            continue
        timed[key] = _compile_row(core, graphs, rows[key], threads,
                                  inputs)
        if entry.counts_detections:
            rows[key]['detections'] = count_detections(timed[key])


def _build_rows(entries: List[Entry], precisions: Sequence[str],
                cls_size: int, core, threads: int, bf16: bool, work: str,
                bar) -> Tuple[Dict[str, Dict], Dict[str, Timed], Dict]:
    """Phase 1: build, convert, quantize and compile everything first.

    Returns:
        tuple: ``rows`` (every ``model@precision``), ``timed`` (the rows to
        time: :class:`Timed`, or :class:`~.end_to_end.Called` for the
        end-to-end rows), ``modules`` (entry name -> (torch module, input)).
    """
    rows: Dict[str, Dict] = {}
    timed: Dict[str, Any] = {}
    modules: Dict[str, Tuple] = {}
    builder = None
    for entry in entries:
        bar.set_description(f'build {entry.name}')
        if entry.mode is not None:
            if builder is None:
                builder = EndToEndBuilder(core, threads, work)
            _build_end_to_end(entry, precisions, bf16, builder, rows, timed)
        else:
            _build_entry(entry, precisions, cls_size, core, threads, bf16,
                         work, rows, timed, modules)
        bar.update(1)
    return rows, timed, modules


def _in_rounds(keys: List[str], rounds: int, measure: Callable[[str], Any],
               label: str, bar, first: int = 0) -> Dict[str, List]:
    """``measure(key)`` for every key in every round, the order rotated per
    round (rounds numbered from ``first``): a busy moment of the machine
    hits every row alike."""
    out: Dict[str, List] = {k: [] for k in keys}
    for r in range(first, first + rounds):
        shift = r % max(len(keys), 1)
        for key in keys[shift:] + keys[:shift]:
            bar.set_description(f'{label} {r + 1} {key}')
            out[key].append(measure(key))
            bar.update(1)
    return out


def noisy_ratios(rows: Dict[str, Dict],
                 precisions: Sequence[str]) -> List[str]:
    """The goal and anchor ratios of ``rows`` whose IQR over rounds reaches
    beyond ``± IQR_LIMIT`` (:func:`.report.noisy`), as ``num / den``."""
    ratios = goal_ratios(rows) + anchor_ratios(rows, precisions)
    return [f"{g['numerator']} / {g['denominator']}" for g in ratios
            if noisy(g)]


def time_latency(timed: Dict[str, Any], rows: Dict[str, Dict],
                 rounds: int, max_rounds: int, precisions: Sequence[str],
                 iters: int, round_time: float, bar) -> int:
    """Phase 2: sync latency, all rows in every round; after ``rounds``,
    one more round at a time while a ratio is noisy
    (:func:`noisy_ratios`), up to ``max_rounds``. Returns the rounds run.
    """
    def measure(key):
        return timed[key].latencies(iters, round_time)

    def store():
        for key, per_round in samples.items():
            rows[key]['latency'] = latency_stats(per_round)

    samples = _in_rounds(list(timed), rounds, measure, 'round', bar)
    store()
    done = rounds
    while done < max_rounds and noisy_ratios(rows, precisions):
        extra = _in_rounds(list(timed), 1, measure, 'extra round', bar,
                           first=done)
        for key, per_round in extra.items():
            samples[key] += per_round
        store()
        done += 1
    return done


def _network_rows(timed: Dict[str, Any]) -> Dict[str, Timed]:
    return {k: t for k, t in timed.items() if isinstance(t, Timed)}


def _time_throughput(core, timed: Dict[str, Any], rows: Dict[str, Dict],
                     rounds: int, threads: int, tput_time: float,
                     bar) -> None:
    """Phase 3: THROUGHPUT hint, async requests, interleaved in rounds like
    latency: one busy second must not move one model 2x. Network rows only
    (:class:`Timed`): an end-to-end row is one call at a time."""
    compiled = {}
    for key, t in _network_rows(timed).items():
        bar.set_description(f'compile throughput {key}')
        compiled[key] = compile_model(core, t.graph, t.precision, threads,
                                      hint='THROUGHPUT')
    fps = _in_rounds(
        list(compiled), rounds,
        lambda key: async_throughput(compiled[key], timed[key].inputs,
                                     tput_time), 'throughput', bar)
    for key, per_round in fps.items():
        rows[key]['throughput'] = throughput_stats(per_round)


def _time_torch(modules: Dict[str, Tuple], rows: Dict[str, Dict],
                threads: int, iters: int, round_time: float, enabled: bool,
                bar) -> None:
    """Phase 4: torch eager (f32) per model, on every measured row of it."""
    for name, (module, x) in modules.items():
        bar.set_description(f'torch {name}')
        if enabled:
            times = torch_latencies(module, x, threads, iters, round_time)
            stats = dict(median_ms=float(np.median(times)),
                         samples=len(times))
            for row in rows.values():
                if row['model'] == name and 'latency' in row:
                    row['torch'] = stats
        bar.update(1)


def _noise_note(result: Dict) -> str:
    """Which reported ratios stayed noisy after the rounds run."""
    names = [f"{g['numerator']} / {g['denominator']}"
             for g in result['ratios'] + result['anchor_ratios']
             if noisy(g)]
    if not names:
        return ''
    s = result['settings']
    return (f"{len(names)} ratio(s) with an IQR beyond "
            f"±{100 * IQR_LIMIT:.0f} % after {s['rounds_run']} rounds "
            f"(--max-rounds {s['max_rounds']}): {', '.join(names)}.")


def _result(machine: Dict, settings: Dict, rows: Dict[str, Dict],
            notes: List[str]) -> Dict:
    """The result dict: machine (with the load at the end), settings, rows,
    the goal ratios and the notes."""
    machine['load_average_start'] = machine.pop('load_average')
    try:
        machine['load_average_end'] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        machine['load_average_end'] = None
    result = dict(machine=machine, settings=settings, rows=rows, notes=notes)
    result['ratios'] = goal_ratios(rows)
    result['anchor_ratios'] = anchor_ratios(rows, settings['precisions'])
    for note in (int8_note(rows, machine.get('isa') or []),
                 _noise_note(result)):
        if note:
            result['notes'].append(note)
    skipped = {r['skipped'] for r in rows.values() if 'skipped' in r}
    for s in sorted(skipped):
        if 'BF16' not in s:
            result['notes'].append(f'Skipped rows: {s}')
    return result


def run_benchmark(names: Optional[List[str]] = None,
                  precisions: Sequence[str] = PRECISIONS,
                  threads: int = 2, rounds: int = 5, iters: int = 20,
                  round_time: float = 1.0, tput_time: float = 1.0,
                  cls_size: int = 224, torch_eager: bool = True,
                  progress: bool = True,
                  max_rounds: Optional[int] = None) -> Dict:
    """Run the benchmark; see ``tools/benchmark.py`` for the options.

    Four phases: build every row (:func:`_build_rows`), then sync latency
    (:func:`time_latency`: ``rounds``, then more while a reported ratio's
    IQR reaches beyond ``± IQR_LIMIT``, up to ``max_rounds``, default
    ``rounds``) and async throughput (:func:`_time_throughput`), each with
    all rows interleaved in rounds, then torch eager (:func:`_time_torch`).

    Example:
        >>> result = run_benchmark(['lcnetv2-small-fused'], ['f32'],
        ...                        rounds=2, iters=3)  # doctest: +SKIP
        >>> result['rows']['lcnetv2-small-fused@f32']['latency']['median_ms']

    Returns:
        dict: ``machine``, ``settings``, ``rows`` (per ``model@precision``),
        ``ratios`` (the goal pairs) and ``notes``.
    """
    import openvino as ov
    max_rounds = rounds if max_rounds is None else max_rounds
    _check_args(precisions, threads, rounds, iters, max_rounds)
    entries = get_entries(names)
    machine = machine_info()
    notes: List[str] = []
    if 'bf16' in precisions and not machine['bf16_supported']:
        notes.append('bf16 rows skipped: this CPU reports '
                     f"OPTIMIZATION_CAPABILITIES = "
                     f"{', '.join(machine['cpu_capabilities'])} (no BF16).")
    core = ov.Core()
    work = tempfile.mkdtemp(prefix='mmlcnetv2-bench-')
    bar = _progress(len(entries), progress)
    try:
        rows, timed, modules = _build_rows(
            entries, precisions, cls_size, core, threads,
            machine['bf16_supported'], work, bar)
        bar.reset(total=rounds * (len(timed) + len(_network_rows(timed)))
                  + len(modules))
        rounds_run = time_latency(timed, rows, rounds, max_rounds,
                                   precisions, iters, round_time, bar)
        _time_throughput(core, timed, rows, rounds, threads, tput_time, bar)
        _time_torch(modules, rows, threads, iters, round_time, torch_eager,
                    bar)
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    settings = dict(threads=threads, rounds=rounds, max_rounds=max_rounds,
                    rounds_run=rounds_run, iters=iters,
                    round_time=round_time, tput_time=tput_time,
                    cls_size=cls_size, precisions=list(precisions))
    return _result(machine, settings, rows, notes)
