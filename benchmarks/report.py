# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Statistics, the goal ratios (the data file ``goals.json``), markdown
table, machines index and plot."""
import json
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from mmlcnetv2.names import BENCHMARK_PRECISIONS, LEGACY_TASKS, TASKS
from mmlcnetv2.utils.atomic import atomic_file

#: The goal table: data, beside this module (shipped with the package), read
#: here and only here; every report cites it by :data:`GOALS_SOURCE`.
GOALS_FILE = osp.join(osp.dirname(osp.abspath(__file__)), 'goals.json')
GOALS_SOURCE = 'benchmarks/goals.json'


class Goal(NamedTuple):
    """One ratio of two rows (``model@precision``): the median of per-round
    ratios of their round medians, with ``goal`` its bound (``None``:
    informative only) and ``why`` what it says in words.

    ``parity``: the two rows run the same graph by construction (ours and
    PaddleClas's PP-LCNetV2); the ratio is then reported as within or
    outside a ``1 ± parity`` band, never as a win or a loss, and the goal
    is met inside the band (or below it)."""
    numerator: str
    denominator: str
    goal: Optional[float]
    why: str = ''
    parity: Optional[float] = None


#: Each reported ratio's interquartile range over rounds should lie within
#: ``median * (1 ± IQR_LIMIT)``; the reports flag the ratios that do not,
#: and ``--max-rounds`` adds rounds until they do.
IQR_LIMIT = 0.05


def _check_row_name(name, path: str) -> str:
    model, sep, precision = str(name).rpartition('@')
    if not (isinstance(name, str) and sep and model
            and precision in BENCHMARK_PRECISIONS):
        raise ValueError(f'{path}: row {name!r} is not model@precision with '
                         f'a precision in {BENCHMARK_PRECISIONS}')
    return name


def load_goals(path: str = GOALS_FILE
               ) -> Tuple[List[Goal], List[Tuple[str, str]]]:
    """The goal ratios and the index's headline rows of a goals file.

    Example:
        >>> goals, headline = load_goals()
        >>> goals[0].numerator, goals[0].denominator, goals[0].goal
        ('lcnetv2-base-fused@f32', 'paddle-pplcnetv2-base@f32', 1.0)

    Raises:
        ValueError: A row name that is not ``model@precision`` or a goal
            that is not a positive number or null (names the file and the
            value).
    """
    with open(path) as f:
        data = json.load(f)
    goals = []
    for item in data['goals']:
        goal = item.get('goal')
        if goal is not None and not (isinstance(goal, (int, float))
                                     and goal > 0):
            raise ValueError(f'{path}: goal {goal!r} of {item} must be a '
                             'positive number or null')
        parity = item.get('parity')
        if parity is not None and not (isinstance(parity, (int, float))
                                       and 0 < parity < 1):
            raise ValueError(f'{path}: parity {parity!r} of {item} must be '
                             'a fraction in (0, 1) or absent')
        goals.append(Goal(_check_row_name(item['numerator'], path),
                          _check_row_name(item['denominator'], path),
                          None if goal is None else float(goal),
                          item.get('why', ''), parity))
    headline = [(_check_row_name(item['row'], path), item['label'])
                for item in data['headline_rows']]
    return goals, headline


#: The goal ratios, and the index's latency rows ``(model@precision,
#: label)``, of :data:`GOALS_FILE`.
GOALS, HEADLINE_ROWS = load_goals()


def row_task(row: Dict) -> str:
    """A result row's task as one of :data:`~mmlcnetv2.names.TASKS`, also
    for results written when rows said ``'cls'``/``'det'``."""
    return LEGACY_TASKS.get(row['task'], row['task'])


def load_result(path: str) -> Dict:
    """A machine's result JSON (``--json``/``--save``), its rows' task names
    in today's vocabulary whatever version wrote it.

    Example:
        >>> result = load_result('docs/benchmarks/amd-epyc_avx2.json')
        >>> sorted({row['task'] for row in result['rows'].values()})
        ['classification', 'detection']
    """
    with open(path) as f:
        result = json.load(f)
    for row in result['rows'].values():
        row['task'] = row_task(row)
    return result


def latency_stats(rounds: List[List[float]]) -> Dict:
    """Median and p90 over all samples; the per-round medians."""
    samples = np.concatenate([np.asarray(r) for r in rounds])
    return dict(median_ms=float(np.median(samples)),
                p90_ms=float(np.percentile(samples, 90)),
                samples=int(samples.size),
                round_medians_ms=[float(np.median(r)) for r in rounds])


def throughput_stats(rounds: List[Dict]) -> Dict:
    """Median images/s over rounds (``fps``), its spread and the rounds."""
    fps = np.asarray([r['fps'] for r in rounds])
    return dict(fps=float(np.median(fps)), min_fps=float(fps.min()),
                max_fps=float(fps.max()),
                round_fps=[float(v) for v in fps],
                requests=rounds[0]['requests'],
                images=int(sum(r['images'] for r in rounds)))


def pair_ratio(a: Dict, b: Dict) -> Dict:
    """Median of per-round ratios of two rows and their spread (min, max,
    the 25/75 percentiles and :func:`iqr_pct`)."""
    ra = np.asarray(a['round_medians_ms'])
    rb = np.asarray(b['round_medians_ms'])
    r = ra / rb
    out = dict(median=float(np.median(r)), min=float(r.min()),
               max=float(r.max()), p25=float(np.percentile(r, 25)),
               p75=float(np.percentile(r, 75)), rounds=int(r.size))
    out['iqr_pct'] = iqr_pct(out)
    return out


def iqr_pct(ratio: Dict) -> float:
    """How far (%) a ratio's interquartile range reaches from its median:
    ``max(p75 / median - 1, 1 - p25 / median) * 100``; within
    ``IQR_LIMIT * 100`` is a ratio the rounds agree on.

    Example:
        >>> iqr_pct(dict(median=1.0, p25=0.98, p75=1.06))
        6.0
    """
    med = ratio['median']
    return round(100 * max(ratio['p75'] / med - 1, 1 - ratio['p25'] / med),
                 2)


def noisy(ratio: Dict) -> bool:
    """A measured ratio whose IQR reaches beyond ``± IQR_LIMIT``."""
    return 'missing' not in ratio and (
        ratio.get('iqr_pct', iqr_pct(ratio)) > 100 * IQR_LIMIT)


def goal_ratios(rows: Dict[str, Dict]) -> List[Dict]:
    """Every pair of :data:`GOALS` (read from :data:`GOALS_FILE`); a pair
    with a missing/skipped row says which row, instead of a number."""
    out = []
    for num, den, goal, _, parity in GOALS:
        item = row_ratio(rows, num, den, goal=goal)
        if parity is not None:
            item['parity'] = parity
        if goal is not None and 'missing' not in item:
            item['met'] = item['median'] <= (
                goal if parity is None else 1 + parity)
        out.append(item)
    return out


def verdict(median: float, goal: Optional[float],
            parity: Optional[float]) -> str:
    """What a ratio says against its goal: ``'parity'`` (within
    ``1 ± parity``) or ``'outside ±N %'`` for a parity pair, else ``'yes'``
    / ``'no'`` (goal met), ``'–'`` without a goal.

    Example:
        >>> verdict(1.02, 1.0, 0.03), verdict(1.02, 1.0, None)
        ('parity', 'no')
    """
    if parity is not None:
        return 'parity' if abs(median - 1) <= parity else \
            f'outside ±{100 * parity:.0f} %'
    if goal is None:
        return '–'
    return 'yes' if median <= goal else 'no'


def iqr_cell(g: Dict) -> str:
    """``[p25, p75] ±x.x %``, flagged when beyond ``± IQR_LIMIT``."""
    pct = g.get('iqr_pct', iqr_pct(g))
    flag = f' (beyond ±{100 * IQR_LIMIT:.0f} %)' if noisy(g) else ''
    return f"[{g['p25']:.3f}, {g['p75']:.3f}] ±{pct:.1f} %{flag}"


def row_ratio(rows: Dict[str, Dict], num: str, den: str, **fields) -> Dict:
    """``numerator``, ``denominator`` (and ``fields``) with the
    :func:`pair_ratio` of the two rows, or ``missing``: the rows that were
    skipped or not run."""
    item = dict(numerator=num, denominator=den, **fields)
    missing = [n for n in (num, den)
               if n not in rows or 'latency' not in rows[n]]
    if missing:
        item['missing'] = missing
    else:
        item.update(pair_ratio(rows[num]['latency'], rows[den]['latency']))
    return item


def _fmt(x: Optional[float], digits: int = 2) -> str:
    return '–' if x is None else f'{x:.{digits}f}'


def _throughput_cell(row: Dict) -> str:
    t = row.get('throughput')
    if not t:
        return '–'
    if 'min_fps' not in t:  # results written before throughput had rounds
        return f"{t['fps']:.1f}"
    return f"{t['fps']:.1f} [{t['min_fps']:.1f}, {t['max_fps']:.1f}]"


def machine_line(m: Dict) -> str:
    return (f"{m['cpu']}, {m['physical_cores']} cores / "
            f"{m['logical_threads']} threads, ISA "
            f"{', '.join(m.get('isa') or ['unknown'])}, CPU capabilities "
            f"{', '.join(m['cpu_capabilities'])}; OpenVINO {m['openvino']}, "
            f"torch {m['torch']}; load average at start "
            f"{m['load_average_start']}, at end {m['load_average_end']}")


def _rounds_text(settings: Dict) -> str:
    """``'9 rounds'``, or with extra rounds for noisy ratios ``'12 rounds
    (9, then more while a ratio's IQR was beyond ±5 %, up to 25)'``."""
    run = settings.get('rounds_run', settings['rounds'])
    most = settings.get('max_rounds', settings['rounds'])
    if most == settings['rounds']:
        return f'{run} rounds'
    return (f"{run} rounds ({settings['rounds']}, then more while a ratio's "
            f'IQR was beyond ±{100 * IQR_LIMIT:.0f} %, up to {most})')


def to_markdown(result: Dict) -> str:
    """The results as a markdown page (table, goals, machine, command)."""
    m = result['machine']
    s = result['settings']
    lines = [
        '# Benchmarks', '',
        '<!-- Generated by tools/benchmark.py; do not edit by hand. -->', '',
        'Regenerate with:', '', '```bash', result['command'], '```', '',
        f"**Machine:** {machine_line(m)}.", '',
        f"**Settings:** OpenVINO CPU, batch 1, {s['threads']} inference "
        f"threads, {_rounds_text(s)} × up to {s['iters']} iterations "
        f"(≤ {s['round_time']} s per model per round), models interleaved "
        'in each round (order rotated per round) so machine noise hits all '
        'alike; latency: sync request, `PERFORMANCE_HINT=LATENCY`, one '
        'stream; throughput: `PERFORMANCE_HINT=THROUGHPUT`, '
        f"`AsyncInferQueue` for {s['tput_time']} s per model per round, "
        'interleaved in the same rounds (median [min, max] over rounds); '
        "torch: eager, "
        f"`torch.set_num_threads({s['threads']})`, f32. Random weights "
        '(latency does not depend on them). Our fused classifiers and '
        '`-nms` detectors are the IR that `tools/deploy.py` writes, by the '
        'same code (`mmlcnetv2.deploy.export`: static, float input; int8: '
        'its int8 export, calibrated on random images); the other rows are '
        'converted by `openvino.convert_model` (int8: NNCF post-training '
        'quantization on random inputs). Detection rows time the '
        'network up to the head outputs (YOLO11n: with its box decoding, as '
        "ultralytics exports it); `-nms` rows include decoding and NMS in "
        'the graph.', '',
        '## Goals (median of per-round ratios, [min, max] over rounds)', '',
        f'Goal table: `{GOALS_SOURCE}`. IQR: the 25th-75th percentiles of '
        'the per-round ratios and how far they reach from the median; '
        f'ratios whose IQR reaches beyond ±{100 * IQR_LIMIT:.0f} % are '
        'flagged (the rounds do not agree on them to that precision). '
        'Pairs that run the same graph by construction are reported as '
        '**parity** within their band, not as a win or a loss.', '',
        '| ratio | goal | measured | spread [min, max] | IQR | met |',
        '| --- | --- | --- | --- | --- | --- |']
    for g in result['ratios']:
        name = f"`{g['numerator']}` / `{g['denominator']}`"
        parity = g.get('parity')
        goal = ('–' if g['goal'] is None else f"≤ {g['goal']:.2f}") \
            if parity is None else f'parity ±{100 * parity:.0f} %'
        if 'missing' in g:
            lines.append(f"| {name} | {goal} | not measured: "
                         f"{', '.join(g['missing'])} skipped | | | |")
            continue
        met = verdict(g['median'], g['goal'], parity)
        lines.append(
            f"| {name} | {goal} | {g['median']:.3f} | [{g['min']:.3f}, "
            f"{g['max']:.3f}] | {iqr_cell(g)} | {met} |")
    lines += [
        '', '## Results', '',
        '| model | precision | used (read back) | input | median ms | '
        'p90 ms | throughput img/s | torch eager ms | runtime graph '
        '(Reshape/Eltwise/Subgraph) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for key, row in result['rows'].items():
        if row.get('mode'):
            continue  # in the end-to-end table below
        size = 'x'.join(str(v) for v in row['input_shape'][2:]) \
            if row.get('input_shape') else '–'
        if 'skipped' in row:
            lines.append(f"| {row['model']} | {row['precision']} | skipped: "
                         f"{row['skipped']} | {size} | | | | | |")
            continue
        lat = row['latency']
        ops = row.get('runtime_ops', {})
        graph = '/'.join(str(ops.get(k, 0))
                         for k in ('Reshape', 'Eltwise', 'Subgraph'))
        lines.append(
            f"| {row['model']} | {row['precision']} | "
            f"{row['used_precision']} | {size} | {lat['median_ms']:.2f} | "
            f"{lat['p90_ms']:.2f} | {_throughput_cell(row)} | "
            f"{_fmt(row.get('torch', {}).get('median_ms'))} | {graph} |")
    lines += _end_to_end_markdown(result['rows'])
    lines += _anchors_markdown(result)
    if result.get('notes'):
        lines += ['', '## Notes', '']
        lines += [f'- {n}' for n in result['notes']]
    return '\n'.join(lines) + '\n'


def _anchor_cell(g: Optional[Dict]) -> str:
    if g is None:
        return '–'
    if 'missing' in g:
        return 'not measured'
    cell = f"{g['median']:.3f} [{g['min']:.3f}, {g['max']:.3f}]"
    if 'p25' in g:  # results written before the IQR have min/max only
        cell += f", IQR ±{g.get('iqr_pct', iqr_pct(g)):.1f} %"
        if noisy(g):
            cell += ' (noisy)'
    return cell


def anchor_table(result: Dict) -> Dict[Tuple[str, str], Dict[str, Dict]]:
    """``(ours, anchor) -> precision -> ratio`` of a result's
    ``anchor_ratios`` (empty for results written before the anchors)."""
    table: Dict[Tuple[str, str], Dict[str, Dict]] = {}
    for g in result.get('anchor_ratios', []):
        key = (g['numerator'].rsplit('@', 1)[0],
               g['denominator'].rsplit('@', 1)[0])
        table.setdefault(key, {})[g['precision']] = g
    return table


def _anchors_markdown(result: Dict) -> List[str]:
    """The ``## Against the anchors`` section: ours / anchor latency at
    each precision, the detections each ``-nms`` row returned, and where
    the published accuracies come from."""
    table = {pair: by_p for pair, by_p in anchor_table(result).items()
             if any('missing' not in g for g in by_p.values())}
    if not table:
        return []
    precisions = result['settings']['precisions']
    lines = [
        '', '## Against the anchors', '',
        'Latency ratio ours / anchor (median of per-round ratios [min, max], '
        'and how far their IQR reaches from the median, "noisy" beyond '
        f'±{100 * IQR_LIMIT:.0f} %; < 1: ours is faster), each pair at the '
        'same input size and precision. The anchors (`benchmarks/anchors.py`) are '
        'built offline with random weights and exported like ours. Pairs '
        'with no row measured at any precision are left out (the JSON '
        'lists them with the rows missing).', '',
        '| ours | anchor | ' + ' | '.join(precisions) + ' |',
        '| --- | --- |' + ' --- |' * len(precisions)]
    for (ours, anchor), by_p in table.items():
        lines.append(f'| {ours} | {anchor} | ' + ' | '.join(
            _anchor_cell(by_p.get(p)) for p in precisions) + ' |')
    counted = [(k, r) for k, r in result['rows'].items()
               if 'detections' in r and 'candidates' not in r]
    if counted:
        lines += ['', 'Detections the `-nms` graphs returned on the timed '
                  '(random) input, with every classification bias at the '
                  'prior 0.01 (what NMS had to do): ' + ', '.join(
                      f"{k} {r['detections']}" for k, r in counted) + '.']
    lines += _like_for_like_markdown(result)
    published = {r['model']: r['published'] for r in result['rows'].values()
                 if r.get('published')}
    if published:
        lines += ['', 'Published accuracies (the plot beside this page): '
                  + '; '.join(f"{m}: {p['metric']} {p['value']} at "
                              f"{p['size']}x{p['size']} ({p['source']})"
                              for m, p in published.items()) + '.']
    return lines


def _like_for_like_markdown(result: Dict) -> List[str]:
    """The like-for-like detection rows (``-nms-c<N>``): per detector and
    precision, the latency with N candidates planted to enter its NMS, and
    what decoding + NMS add to its network-only row of the same run (the
    median of per-round ratios, IQR from the median)."""
    rows = result['rows']
    planted = [(k, r) for k, r in rows.items() if 'candidates' in r]
    if not planted:
        return []
    lines = [
        '', '### Like for like: the same candidates entering NMS', '',
        'Each detector with decoding and NMS in its graph (image tensor in, '
        'detections out), its classification bias planted so that N '
        'candidates (by its own rule: ours and RTMDet-tiny the `nms_pre` '
        'best per level above `score_thr`, YOLO11n the boxes above `conf`) '
        'enter the NMS on the timed input (counted in torch f32; bf16 may '
        'move a few across the threshold). **decode + NMS share** = this '
        'row / the same detector\'s network-only row - 1, from the per-round '
        'ratios of the same run (IQR ±% from the median).', '',
        '| row | precision | candidates | detections | median ms | '
        'decode + NMS share |', '| --- | --- | --- | --- | --- | --- |']
    for key, r in planted:
        if 'latency' not in r:
            continue
        net = f"{r['model'].rsplit('-nms-', 1)[0]}@{r['precision']}"
        share = '–'
        if 'latency' in rows.get(net, {}):
            g = pair_ratio(r['latency'], rows[net]['latency'])
            share = (f"{100 * (g['median'] - 1):.0f} % "
                     f"(IQR ±{g['iqr_pct']:.1f} %"
                     f"{', noisy' if noisy(g) else ''})")
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['candidates']} | "
            f"{r.get('detections', '–')} | {r['latency']['median_ms']:.2f} | "
            f'{share} |')
    return lines


def _e2e_cell(row: Optional[Dict]) -> str:
    if row is None:
        return '–'
    if 'skipped' in row:
        return f"skipped: {row['skipped']}"
    return f"{row['latency']['median_ms']:.2f}"


def _end_to_end_markdown(rows: Dict[str, Dict]) -> List[str]:
    """The end-to-end rows as one table line per model and precision (the
    lines of an ``## End to end`` section; none without such rows)."""
    groups: Dict[Tuple[str, str], Dict[str, Dict]] = {}
    for row in rows.values():
        if row.get('mode'):
            of = row['model'][:-len(f"-e2e-{row['mode']}")]
            groups.setdefault((of, row['precision']), {})[row['mode']] = row
    if not groups:
        return []
    lines = [
        '', '## End to end', '',
        'One photo (scikit-learn `china.jpg`, 427x640) through the whole '
        'call, timed in the same rounds as the rows above: **file** = image '
        'path -> results (JPEG decode, preprocessing, IR, post-processing), '
        '**array** = the decoded uint8 image -> results, **network** = the '
        'same compiled IR alone on the input prepared from that image. Ours: '
        '`OpenVINOInferencer` on an export written by '
        '`mmlcnetv2.deploy.export` with its defaults (random weights); '
        "PaddleClas: its network behind its published inference "
        'preprocessing (`inference_cls.yaml`) and `Topk` in numpy. Detection '
        'rows include NMS, whose cost depends on the random weights\' '
        'scores.', '',
        '| model | precision | used (read back) | IR input | file ms | '
        'array ms | network ms | array / network (median of rounds) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for (of, p), group in groups.items():
        done = [r for r in group.values() if 'latency' in r]
        if not done:  # all skipped (e.g. bf16 on a CPU without it)
            reasons = sorted({r.get('skipped', '') for r in group.values()})
            lines.append(f"| {of} | {p} | skipped: {'; '.join(reasons)} "
                         '| | | | | |')
            continue
        used = done[0]['used_precision']
        shape = 'x'.join(str(v) for v in done[0].get('input_shape', [])[1:])
        arr, net = group.get('array'), group.get('network')
        ratio = '–'
        if arr and net and 'latency' in arr and 'latency' in net:
            r = pair_ratio(arr['latency'], net['latency'])
            ratio = f"{r['median']:.3f} [{r['min']:.3f}, {r['max']:.3f}]"
        lines.append(
            f"| {of} | {p} | {used} | {shape} | {_e2e_cell(group.get('file'))}"
            f" | {_e2e_cell(arr)} | {_e2e_cell(net)} | {ratio} |")
    return lines


def _ratio_cell(g: Optional[Dict], goal: Optional[float],
                parity: Optional[float] = None) -> str:
    """A measured ratio, checked against ``goal`` (or the ``parity`` band)
    of today's table (not the goal the run was made with: a changed goal
    shows in the index); ``≈`` inside a parity band, ``outside ±N %``
    beyond it."""
    if g is None:
        return '–'
    if 'missing' in g:
        return 'not measured'
    if parity is not None:  # neither a win nor a loss: in the band or not
        met = ' ≈' if abs(g['median'] - 1) <= parity else \
            f' (outside ±{100 * parity:.0f} %)'

    else:
        met = '' if goal is None else (' ✓' if g['median'] <= goal else
                                       ' ✗')
    noise = ' (noisy)' if 'p25' in g and noisy(g) else ''
    return f"{g['median']:.3f} [{g['min']:.3f}, {g['max']:.3f}]{met}{noise}"


def _latency_cell(row: Optional[Dict]) -> str:
    if row is None:
        return '–'
    if 'skipped' in row:
        return f"skipped ({row['skipped']})"
    if 'throughput' not in row:  # an end-to-end row: latency only
        return f"{row['latency']['median_ms']:.2f} ms"
    return (f"{row['latency']['median_ms']:.2f} ms, "
            f"{_throughput_cell(row)} img/s")


def to_index(results: Dict[str, Dict]) -> str:
    """One page with every machine's headline numbers side by side.

    Args:
        results: Machine slug -> that machine's result (its JSON file).
    """
    slugs = sorted(results)
    head = '| | ' + ' | '.join(f'[{s}](benchmarks/{s}.md)'
                               for s in slugs) + ' |'
    rule = '| --- |' + ' --- |' * len(slugs)
    lines = [
        '# Benchmarks: every machine', '',
        '<!-- Generated by tools/benchmark.py --save; do not edit by hand. '
        '-->', '',
        'One column per CPU class, each measured on its own machine with '
        '`tools/benchmark.py --save docs/benchmarks` (2 OpenVINO threads, '
        'batch 1, random weights); a run replaces only its own machine\'s '
        'files. Click a machine for its full table, settings, load and '
        'notes.', '',
        '## Machines', '',
        '| machine | CPU | ISA | OpenVINO | load at start → end | measured |',
        '| --- | --- | --- | --- | --- | --- |']
    for slug in slugs:
        m = results[slug]['machine']
        lines.append(
            f"| {slug} | {m['cpu']} | {', '.join(m.get('isa') or [])} | "
            f"{m['openvino'].split('-')[0]} | {m.get('load_average_start')} "
            f"→ {m.get('load_average_end')} | "
            f"{results[slug].get('date', '–')} |")
    lines += ['', '## Ratios (median of per-round ratios [min, max]; '
              '✓/✗ = goal met/missed; ≈ = parity, within the band of a '
              'pair that runs the same graph; noisy = the IQR over rounds '
              f'reaches beyond ±{100 * IQR_LIMIT:.0f} %)', '',
              f'Goal table: `{GOALS_SOURCE}`.', '', head, rule]
    for num, den, goal, _, parity in GOALS:
        label = f'`{num}` / `{den}`' + (
            f' (parity ±{100 * parity:.0f} %)' if parity is not None else
            '' if goal is None else f' (goal ≤ {goal:.2f})')
        cells = []
        for slug in slugs:
            found = [g for g in results[slug]['ratios']
                     if (g['numerator'], g['denominator']) == (num, den)]
            cells.append(_ratio_cell(found[0] if found else None, goal,
                                     parity))
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += _anchors_index(results, slugs, head, rule)
    lines += ['', '## Latency (median) and throughput (median [min, max] '
              'over rounds)', '', head, rule]
    for key, label in HEADLINE_ROWS:
        cells = [_latency_cell(results[s]['rows'].get(key)) for s in slugs]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return '\n'.join(lines) + '\n'


def _anchors_index(results: Dict[str, Dict], slugs: List[str], head: str,
                   rule: str) -> List[str]:
    """The index's ours / anchors section: one line per pair, per machine
    the median ratio at each precision measured (none before the anchors
    were measured anywhere)."""
    tables = {s: anchor_table(results[s]) for s in slugs}
    pairs = list(dict.fromkeys(k for t in tables.values() for k in t))
    if not pairs:
        return []
    lines = ['', '## Ours / anchors (latency ratio, median of per-round '
             'ratios; < 1: ours faster)', '',
             'Each machine\'s page has the spread and the published '
             'accuracies; its `-tradeoff.png` plots latency against them.',
             '', head, rule]
    for pair in pairs:
        cells = []
        for s in slugs:
            by_p = tables[s].get(pair, {})
            done = [f"{p} {g['median']:.3f}" for p, g in by_p.items()
                    if 'missing' not in g]
            cells.append(' · '.join(done) or ('not measured' if by_p
                                              else '–'))
        lines.append(f'| `{pair[0]}` / `{pair[1]}` | {" | ".join(cells)} |')
    return lines


def write_atomic(text: str, path: str) -> None:
    """Write ``text`` to ``path`` via a temporary file + rename."""
    with atomic_file(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)


#: The :func:`plot` panels, in order: key -> title (what the panel holds).
PLOT_PANELS = {
    'classification': 'classification, network only',
    'detection': 'detection, network only (up to the head outputs; '
                 'YOLO11n with its box decoding)',
    'detection-nms': 'detection with decoding + NMS in the graph',
    'end to end': 'end to end (china.jpg 427x640: file / array -> results, '
                  'and the same IR alone)',
}


def has_nms(row: Dict) -> bool:
    """A row whose graph ends in NMS: it says so (``nms``), or, in
    results written before that field, it counted its detections or is
    named ``<det>-nms[-...]``."""
    return bool(row.get('nms') or 'detections' in row
                or '-nms' in row['model'])


def plot_panel(row: Dict) -> str:
    """The :data:`PLOT_PANELS` key of a measured row."""
    if row.get('mode'):
        return 'end to end'
    task = row_task(row)
    return f'{task}-nms' if task == 'detection' and has_nms(row) else task


def plot(result: Dict, path: str) -> None:
    """Horizontal bars: median latency (p90 as error bar) per model and
    precision, one panel per :data:`PLOT_PANELS` entry that has rows; each
    value written past the end of its whisker, where nothing covers it."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [r for r in result['rows'].values() if 'latency' in r]
    groups = [(key, [r for r in rows if plot_panel(r) == key])
              for key in PLOT_PANELS]
    groups += [(key, [r for r in rows if plot_panel(r) == key]) for key in
               sorted({plot_panel(r) for r in rows} - set(PLOT_PANELS))]
    groups = [(k, g) for k, g in groups if g]
    if not groups:
        raise ValueError('Nothing measured: no plot')
    colors = dict(f32='tab:blue', bf16='tab:orange', int8='tab:green')
    fig, axes = plt.subplots(
        len(groups), 1, squeeze=False,
        figsize=(8, 1.2 + 0.6 * len(groups)
                 + 0.3 * sum(len(g) for _, g in groups)),
        gridspec_kw=dict(height_ratios=[len(g) + 1 for _, g in groups]))
    for ax, (key, group) in zip(axes[:, 0], groups):
        names = [f"{r['model']} @{r['precision']}" for r in group]
        med = np.array([r['latency']['median_ms'] for r in group])
        p90 = np.maximum(
            np.array([r['latency']['p90_ms'] for r in group]), med)
        ax.barh(range(len(group)), med, xerr=[np.zeros(len(group)),
                                              p90 - med],
                color=[colors.get(r['precision'], 'gray') for r in group],
                error_kw=dict(elinewidth=0.8, capsize=2))
        ax.set_yticks(range(len(group)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel('latency, ms (batch 1; bar: median, whisker: p90)',
                      fontsize=8)
        ax.set_title(PLOT_PANELS.get(key, key), fontsize=9)
        # The label starts where the whisker (and its cap) ends.
        pad = 0.01 * p90.max()
        for i, (m, end) in enumerate(zip(med, p90)):
            ax.text(end + pad, i, f'{m:.1f}', va='center', fontsize=7)
        ax.set_xlim(0, p90.max() * 1.15)
    _save_figure(fig, result, path)


def _save_figure(fig, result: Dict, path: str, title: str = '') -> None:
    """Title ``fig`` with the machine (and ``title``), write it to
    ``path`` atomically, close it."""
    import matplotlib.pyplot as plt
    from mmlcnetv2.utils.machine import isa_class
    m = result['machine']
    fig.suptitle(f"OpenVINO CPU, {result['settings']['threads']} threads — "
                 f"{m['cpu']} ({isa_class(m.get('isa') or [])}){title}",
                 fontsize=9)
    fig.tight_layout()
    try:
        with atomic_file(path, suffix='.png') as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)


#: Markers of :func:`plot_tradeoff` per precision.
PRECISION_MARKERS = dict(f32='o', bf16='s', int8='^')


def _source_label(url: str) -> str:
    """A point's source, short: the host and the first path part."""
    parts = url.split('://', 1)[-1].split('/')
    return '/'.join(parts[:2])


def tradeoff_points(result: Dict) -> List[Dict]:
    """The measured rows a latency-accuracy plot can place: a published
    accuracy measured at the row's own input size."""
    return [r for r in result['rows'].values()
            if 'latency' in r and r.get('published')
            and r['input_shape'][2] == r['published']['size']]


def is_ours(row: Dict) -> bool:
    """A row of one of our models (results written before rows said so:
    by its name)."""
    return bool(row.get('ours')) or row['model'].startswith(
        ('lcnetv2-', 'picodet-', 'retinanet-lcnetv2-'))


def _drawn_as_lines(result: Dict, task: str) -> List[Dict]:
    """Our detector networks without a published mAP: the trade-off plot
    draws them as dotted lines at their f32 latency (their ``-nms`` rows
    are noted among those left out)."""
    if task != 'detection':
        return []
    return [r for r in result['rows'].values()
            if row_task(r) == task and 'latency' in r and not r.get('mode')
            and is_ours(r) and not has_nms(r) and not r.get('published')
            and r['precision'] == 'f32']


def left_out(result: Dict, task: str) -> List[str]:
    """One line per model of ``task`` measured but not placed in the
    trade-off plot, saying why (run at another size than its published
    accuracy, or none published); the end-to-end rows are not models."""
    placed = {r['model'] for r in tradeoff_points(result)}
    placed |= {r['model'] for r in _drawn_as_lines(result, task)}
    why: Dict[str, str] = {}
    for r in result['rows'].values():
        if (row_task(r) != task or 'latency' not in r or r.get('mode')
                or r['model'] in placed):
            continue
        pub = r.get('published')
        side = r['input_shape'][2]
        why[r['model']] = (
            f"run at {side}, its published {pub['metric']} "
            f"{pub['value']} is at {pub['size']}" if pub else
            'no published accuracy')
    return [f'{m}: {w}' for m, w in why.items()]


def _point_label(r: Dict) -> str:
    pub = r['published']
    weights = f", {pub['weights']}" if pub.get('weights') else ''
    return (f"{r['model']}\n"
            f"{pub['value']}{weights} ({_source_label(pub['source'])})")


def _label_offset(r: Dict, placed: List[Tuple[float, float]],
                  count: int) -> int:
    """Vertical offset (points) of a point's label: away from the nearest
    point already labelled when one is close (within a factor 1.4 of
    latency and 1 unit of accuracy), so two labels do not print over each
    other; else above and below by turns."""
    x, y = r['latency']['median_ms'], r['published']['value']
    near = [py for px, py in placed
            if max(px, x) / min(px, x) < 1.4 and abs(py - y) < 1.0]
    if near:
        return -14 if min(near, key=lambda py: abs(py - y)) >= y else 3
    return 3 if count % 2 == 0 else -14


def plot_tradeoff(result: Dict, path: str) -> None:
    """Latency (median, x) against published accuracy (y), one panel per
    task measured, each model at its best published accuracy, labelled
    once (model, accuracy, source) beside its first point; our detectors,
    which have no published mAP, as dotted lines at their f32 latency;
    under each panel, the measured models it leaves out and why.

    Raises:
        ValueError: Nothing to place (no measured row has a published
            accuracy at its input size).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    points = tradeoff_points(result)
    if not points:
        raise ValueError('No measured row has a published accuracy at its '
                         'input size: no trade-off plot')
    tasks = [t for t in TASKS if any(
        row_task(r) == t and 'latency' in r and not r.get('mode')
        for r in result['rows'].values())]
    notes = {t: left_out(result, t) for t in tasks}
    heights = [3.0 + 1.5 * any(row_task(r) == t for r in points)
               + 0.12 * len(notes[t]) for t in tasks]
    fig, axes = plt.subplots(len(tasks), 1, squeeze=False,
                             figsize=(9, sum(heights)),
                             gridspec_kw=dict(height_ratios=heights))
    for ax, task in zip(axes[:, 0], tasks):
        labelled, placed = set(), []
        for r in (r for r in points if row_task(r) == task):
            pub = r['published']
            x = r['latency']['median_ms']
            ax.scatter(x, pub['value'],
                       marker=PRECISION_MARKERS.get(r['precision'], 'x'),
                       color='tab:gray' if r.get('anchor') else 'tab:red')
            if r['model'] not in labelled:  # one label per model
                dy = _label_offset(r, placed, len(labelled))
                placed.append((x, pub['value']))
                labelled.add(r['model'])
                ax.annotate(_point_label(r), (x, pub['value']), fontsize=6,
                            xytext=(4, dy), textcoords='offset points')
        for r in _drawn_as_lines(result, task):
            ax.axvline(r['latency']['median_ms'], color='tab:red',
                       linestyle=':', linewidth=0.8)
            ax.annotate(f"{r['model']} (ours, f32; no published mAP)",
                        (r['latency']['median_ms'], 0.02),
                        xycoords=('data', 'axes fraction'), rotation=90,
                        fontsize=6, va='bottom')
        metrics = [r['published']['metric'] for r in points
                   if row_task(r) == task]
        if not metrics:
            ax.text(0.5, 0.5, 'no model of this task was run at the size '
                    'of its published accuracy', transform=ax.transAxes,
                    ha='center', fontsize=8)
        ax.set_xscale('log')
        ax.margins(x=0.2, y=0.1)  # room for the labels right of a point
        ax.set_xlabel('latency, ms (batch 1, median; log scale)')
        ax.set_ylabel(f"published {metrics[0] if metrics else 'accuracy'}")
        ax.set_title(f'{task}: red = ours, grey = anchors; '
                     'o f32, s bf16, ^ int8; each model labelled once',
                     fontsize=9)
        if notes[task]:
            ax.annotate('Not plotted (measured):\n' + '\n'.join(notes[task]),
                        (0, -0.16), xycoords='axes fraction', va='top',
                        fontsize=6)
    _save_figure(fig, result, path,
                 '; accuracy as published by each source')
