# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""tools/benchmark.py end to end with tiny iteration counts: the JSON,
markdown and plot it writes (speed itself is a benchmark result, not a test
assertion)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from benchmarks import ENTRIES, get_entries

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS = ['lcnetv2-base-fused', 'lcnetv2-base-unfused']


def _tool(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONWARNINGS='ignore:pkg_resources is deprecated')
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'benchmark.py'), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


#: Another machine's results, as committed (kept per machine, issue 11).
OTHER = osp.join(REPO, 'docs', 'benchmarks', 'amd-epyc_avx2.json')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench')
    paths = dict(json=out / 'r.json', md=out / 'r.md', plot=out / 'r.png',
                 save=out / 'benchmarks')
    # another machine's file, under a name no CPU here can produce
    paths['save'].mkdir()
    paths['other'] = paths['save'] / 'other-machine_avx2.json'
    with open(OTHER) as f:
        paths['other'].write_text(f.read())
    proc = _tool('--models', *MODELS, '--precisions', 'f32', 'bf16',
                 '--threads', '1', '--rounds', '2', '--iters', '2',
                 '--round-time', '0.1', '--tput-time', '0.1',
                 '--cls-size', '64', '--no-progress',
                 '--json', str(paths['json']), '--md', str(paths['md']),
                 '--plot', str(paths['plot']), '--save', str(paths['save']))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, paths


@pytest.mark.slow  # ~45 s: two models built, converted and timed
def test_json_rows_and_fields(run):
    _, paths = run
    result = json.loads(paths['json'].read_text())
    machine = result['machine']
    assert isinstance(machine['isa'], list)
    for key in ('cpu', 'physical_cores', 'logical_threads', 'openvino',
                'torch', 'cpu_capabilities', 'load_average_start'):
        assert machine[key] not in (None, ''), key
    assert result['settings']['threads'] == 1
    assert set(result['rows']) == {f'{m}@{p}' for m in MODELS
                                   for p in ('f32', 'bf16')}
    for model in MODELS:
        row = result['rows'][f'{model}@f32']
        assert row['input_shape'] == [1, 3, 64, 64]
        assert row['used_precision'] == 'f32'  # read back, asked for f32
        lat = row['latency']
        assert len(lat['round_medians_ms']) == 2
        assert 0 < lat['median_ms'] <= lat['p90_ms']
        tput = row['throughput']
        assert len(tput['round_fps']) == 2  # interleaved in the rounds
        assert 0 < tput['min_fps'] <= tput['fps'] <= tput['max_fps']
        assert row['torch']['median_ms'] > 0
        # f32 rows run float kernels only (names like brgconv_avx2_1x1_f32)
        kernels = row['conv_kernels']
        assert kernels and not any(k.upper().endswith(('I8', 'U8'))
                                   for k in kernels), kernels
        assert row['runtime_ops'].get('Convolution', 0) > 0
        bf16 = result['rows'][f'{model}@bf16']
        if machine['bf16_supported']:
            assert bf16['used_precision'] == 'bf16'
        else:
            assert 'skipped' in bf16 and 'latency' not in bf16
            assert any('bf16' in n for n in result['notes'])
    # Fusing removes the neck's Reshape (see docs/deploy.md).
    assert result['rows']['lcnetv2-base-fused@f32']['runtime_ops'].get(
        'Reshape', 0) == 0
    ratios = {(g['numerator'], g['denominator']): g
              for g in result['ratios']}
    fused = ratios[('lcnetv2-base-fused@f32', 'lcnetv2-base-unfused@f32')]
    assert fused['rounds'] == 2
    assert fused['min'] <= fused['median'] <= fused['max']
    anchor = ratios[('lcnetv2-base-fused@f32', 'paddle-pplcnetv2-base@f32')]
    assert anchor['missing'] == ['paddle-pplcnetv2-base@f32']


@pytest.mark.slow
def test_markdown_and_plot(run):
    proc, paths = run
    md = paths['md'].read_text()
    assert md.startswith('# Benchmarks')
    assert 'python tools/benchmark.py --models lcnetv2-base-fused' in md
    assert '**Machine:**' in md
    table = [line for line in md.splitlines()
             if line.startswith('| lcnetv2-base-')]
    assert len(table) == 4
    for line in table:
        assert line.count('|') == 10, line
    assert 'lcnetv2-base-fused@f32` / `lcnetv2-base-unfused@f32' in md
    assert paths['plot'].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'Ratios' in proc.stdout


@pytest.mark.slow
def test_save_keeps_other_machines_and_indexes_all(run):
    from mmlcnetv2.utils.machine import machine_slug
    _, paths = run
    result = json.loads(paths['json'].read_text())
    slug = machine_slug(result['machine'])
    mine = paths['save'] / f'{slug}.json'
    assert json.loads(mine.read_text())['rows'] == result['rows']
    assert (paths['save'] / f'{slug}.md').is_file()
    assert (paths['save'] / f'{slug}.png').read_bytes()[:4] == b'\x89PNG'
    with open(OTHER) as f:
        assert paths['other'].read_text() == f.read()  # untouched
    index = (paths['save'].parent / 'benchmarks.md').read_text()
    head = [line for line in index.splitlines()
            if line.startswith('| | [')][0]
    assert f'[{slug}](benchmarks/{slug}.md)' in head
    assert '[other-machine_avx2](benchmarks/other-machine_avx2.md)' in head
    fused = [line for line in index.splitlines() if line.startswith(
        '| `lcnetv2-base-fused@f32` / `lcnetv2-base-unfused@f32`')][0]
    other = json.loads(paths['other'].read_text())
    ratio = [g for g in other['ratios'] if g['numerator'] ==
             'lcnetv2-base-fused@f32' and g['denominator'] ==
             'lcnetv2-base-unfused@f32'][0]
    assert f"{ratio['median']:.3f}" in fused
    # rebuilt alone from the folder: the same page
    proc = _tool('--index', str(paths['save'].parent / 'benchmarks.md'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (paths['save'].parent / 'benchmarks.md').read_text() == index
    proc = _tool('--index', str(paths['save'].parent / 'nothing.md'))
    assert proc.returncode == 2 and 'no results folder' in proc.stderr


def test_machine_names_differ_per_cpu_class():
    """One name per CPU class: the three we run on never share a file."""
    from mmlcnetv2.utils.machine import isa_class, machine_slug
    avx2 = ['avx2', 'fma']
    zen4 = avx2 + ['avx512f', 'avx512_vnni', 'avx512_bf16']
    spr = zen4 + ['amx_bf16', 'amx_int8']
    assert [isa_class(i) for i in (avx2, zen4, spr)] == [
        'avx2', 'avx512-vnni-bf16', 'avx512-vnni-bf16-amx']
    names = {machine_slug(dict(cpu='AMD EPYC', isa=avx2)),
             machine_slug(dict(cpu='AMD EPYC', isa=zen4)),
             machine_slug(dict(cpu='Intel(R) Xeon(R) Platinum 8481C CPU @ '
                                   '2.70GHz', isa=spr))}
    assert names == {'amd-epyc_avx2', 'amd-epyc_avx512-vnni-bf16',
                     'intel-xeon-platinum-8481c_avx512-vnni-bf16-amx'}


def test_list_prints_every_model(capsys):
    # In-process (the subprocess above already covers the command line):
    # a second interpreter start would double the test's time.
    from benchmarks import cli as tool
    assert tool.main(['--list']) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == list(ENTRIES)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match='nope.*known'):
        get_entries(['lcnetv2-base-fused', 'nope'])


@pytest.mark.slow
def test_outputs_get_normal_file_modes(run):
    """Written via temporary files, yet as readable as open() would make
    them (mkstemp alone gives 0o600)."""
    from mmlcnetv2.utils.atomic import default_file_mode
    _, paths = run
    written = [paths[k] for k in ('json', 'md', 'plot')]
    written += [p for p in paths['save'].iterdir() if p != paths['other']]
    written.append(paths['save'].parent / 'benchmarks.md')
    assert len(written) == 7
    for path in written:
        assert os.stat(path).st_mode & 0o777 == default_file_mode(), path


def test_int8_note_names_kernels_and_missing_vnni():
    from benchmarks.runner import int8_note
    rows = {'m@int8': dict(precision='int8',
                           conv_kernels={'jit_avx2_1x1_I8': 3}),
            'm@f32': dict(precision='f32',
                          conv_kernels={'brgconv_avx2_1x1_f32': 3})}
    note = int8_note(rows, ['avx2', 'fma'])
    assert 'jit_avx2_1x1_I8 ×3' in note and 'no VNNI' in note
    assert 'f32' not in note.split('(ISA')[0]
    assert 'avx512_vnni' in int8_note(rows, ['avx2', 'avx512_vnni'])
    assert int8_note({'m@f32': rows['m@f32']}, ['avx2']) == ''


def test_random_weights_keep_activations_alive():
    """The benchmark's random weights keep activations O(1) (torch's
    default init leaves ~1e-16 after PP-LCNetV2's ~40 layers)."""
    import torch
    # the weights the export gets
    model = get_entries(['lcnetv2-small-fused'])[0].build((64, 64)).model
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 64, 64))
    assert 1e-2 < float(feats[-1].abs().max()) < 1e4


def test_old_results_with_cls_det_task_names_still_read(tmp_path):
    """Rows of results written before the task vocabulary (names.TASKS)
    say 'cls'/'det'; they load with today's names, and the plot groups them
    (before, it grouped by today's names and found nothing to draw)."""
    from benchmarks.report import load_result, plot
    from mmlcnetv2.names import LEGACY_TASKS
    # An old file, constructed: a committed result with its task names
    # spelled the old way (which committed file is still old changes as
    # machines are re-measured, so the test does not depend on one).
    with open(OTHER) as f:
        raw = json.load(f)
    old_name = {new: old for old, new in LEGACY_TASKS.items()}
    for row in raw['rows'].values():
        row['task'] = old_name.get(row['task'], row['task'])
    assert {r['task'] for r in raw['rows'].values()} == {'cls', 'det'}
    old_file = tmp_path / 'old.json'
    old_file.write_text(json.dumps(raw))
    result = load_result(str(old_file))
    assert {r['task'] for r in result['rows'].values()} == {
        'classification', 'detection'}
    assert [r['model'] for r in result['rows'].values()] == [
        r['model'] for r in raw['rows'].values()]
    plot(raw, str(tmp_path / 'old.png'))  # as json.load gives it
    assert (tmp_path / 'old.png').read_bytes()[:4] == b'\x89PNG'


def test_index_of_the_committed_results_is_the_committed_index(tmp_path):
    """``--index`` rebuilds docs/benchmarks.md from docs/benchmarks/*.json
    (old task names included) exactly as committed."""
    import shutil

    from benchmarks import cli as tool
    results = tmp_path / 'benchmarks'
    results.mkdir()
    committed = osp.join(REPO, 'docs', 'benchmarks')
    for name in os.listdir(committed):
        if name.endswith('.json'):
            shutil.copy(osp.join(committed, name), results / name)
    assert tool.write_index(str(tmp_path / 'benchmarks.md'),
                            str(results)) == 0
    with open(osp.join(REPO, 'docs', 'benchmarks.md')) as f:
        assert (tmp_path / 'benchmarks.md').read_text() == f.read()


def test_goal_table_is_read_from_its_data_file(tmp_path):
    from benchmarks import report
    with open(report.GOALS_FILE) as f:
        data = json.load(f)
    assert [(g['numerator'], g['denominator'], g['goal'])
            for g in data['goals']] == [
        (g.numerator, g.denominator, g.goal) for g in report.GOALS]
    # the ratios and the reports use that table, and cite it
    assert [(g['numerator'], g['denominator'], g['goal'])
            for g in report.goal_ratios({})] == [
        (g.numerator, g.denominator, g.goal) for g in report.GOALS]
    cited = f'Goal table: `{report.GOALS_SOURCE}`'
    assert osp.samefile(osp.join(REPO, report.GOALS_SOURCE),
                        report.GOALS_FILE)
    assert cited in report.to_markdown(report.load_result(OTHER))
    assert cited in report.to_index({'m': report.load_result(OTHER)})
    # a bad value is named
    bad = tmp_path / 'goals.json'
    data['goals'][0]['goal'] = -1
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match='goal -1 .*positive number'):
        report.load_goals(str(bad))
    data['goals'][0].update(goal=1, numerator='lcnetv2-base-fused@fp32')
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="'lcnetv2-base-fused@fp32'.*f32"):
        report.load_goals(str(bad))


def test_zoo_configs_come_from_the_package_configs_root(tmp_path,
                                                        monkeypatch):
    """Not from the checkout's path: the zoo asks the package's configs
    root (mmlcnetv2/.mim when installed), here one without our configs."""
    from mmlcnetv2 import model_index
    from benchmarks.zoo import load_zoo_config
    (tmp_path / 'configs' / 'cls').mkdir(parents=True)
    monkeypatch.setattr(model_index, 'configs_root', lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError,
                       match='mmlcnetv2::cls/pplcnetv2-small'):
        get_entries(['lcnetv2-small-fused'])[0].build((64, 64))
    with pytest.raises(ValueError, match="'configs/det/x.py'.*mmlcnetv2::"):
        load_zoo_config('configs/det/x.py')


def test_index_checks_ratios_against_the_goal_table(monkeypatch):
    """A goal changed in the table shows in the index rebuilt from the
    saved results (they keep the goal they were run with)."""
    from benchmarks import report
    pair = ('picodet-small-320@f32', 'retinanet-r50-320@f32')
    old = report.load_result(OTHER)
    saved = [g for g in old['ratios']
             if (g['numerator'], g['denominator']) == pair][0]
    assert saved['met'] and saved['goal'] == 0.10
    for goal, mark in ((0.10, '✓'), (saved['median'] / 2, '✗')):
        monkeypatch.setattr(report, 'GOALS', [report.Goal(*pair, goal)])
        line = [line for line in report.to_index({'m': old}).splitlines()
                if line.startswith(f'| `{pair[0]}`')][0]
        assert line.endswith(f'{mark} |'), line
        assert f'(goal ≤ {goal:.2f})' in line


E2E = [f'lcnetv2-base-fused-e2e-{m}' for m in ('file', 'array', 'network')]


@pytest.mark.slow  # ~60 s: one export, three rows timed
def test_end_to_end_rows_are_timed_and_their_goal_evaluated():
    """The end-to-end rows of the fused base classifier: timed in the
    latency rounds (not in throughput), the 1.15 goal evaluated, and the
    report's own table."""
    from benchmarks import run_benchmark, to_markdown
    result = run_benchmark(E2E, ['f32'], threads=1, rounds=2, iters=2,
                           round_time=0.1, tput_time=0.1,
                           torch_eager=False, progress=False)
    assert set(result['rows']) == {f'{n}@f32' for n in E2E}
    for name in E2E:
        row = result['rows'][f'{name}@f32']
        assert row['mode'] == name.rsplit('-', 1)[1]
        assert row['image_shape'] == [427, 640, 3]
        assert row['used_precision'] == 'f32'
        assert len(row['latency']['round_medians_ms']) == 2
        assert 0 < row['latency']['median_ms'] <= row['latency']['p90_ms']
        assert 'throughput' not in row  # one call at a time
    goal = [g for g in result['ratios'] if g['numerator'] == (
        'lcnetv2-base-fused-e2e-array@f32')][0]
    assert goal['denominator'] == 'lcnetv2-base-fused-e2e-network@f32'
    assert goal['goal'] == 1.15 and goal['rounds'] == 2
    assert goal['met'] == (goal['median'] <= 1.15)
    md = to_markdown(dict(result, command='python tools/benchmark.py'))
    line = [line for line in md.split('## End to end')[1].splitlines()
            if line.startswith('| lcnetv2-base-fused | f32 |')][0]
    assert f"{goal['median']:.3f}" in line


def test_anchor_preprocessing_is_paddleclas_own():
    """The anchor's numpy preprocessing gives what PaddleClas's own
    inference operators give (``deploy/python/preprocess.py``, with the
    parameters of its ``inference_cls.yaml``) on the benchmark's photo."""
    import importlib.util

    import numpy as np
    import yaml
    spec = importlib.util.find_spec('paddleclas')
    if spec is None:
        pytest.skip('paddleclas is not installed')
    pytest.importorskip('paddle')
    from sklearn.datasets import load_sample_image

    from benchmarks.end_to_end import (PADDLECLAS_PREPROCESS,
                                                paddleclas_preprocess)
    deploy = osp.join(osp.dirname(spec.origin), 'deploy')
    with open(osp.join(deploy, 'configs', 'inference_cls.yaml')) as f:
        ops_cfg = yaml.safe_load(f)['PreProcess']['transform_ops']
    # Its module imports the whole paddleclas package (which needs faiss)
    # for a detection helper the classification operators do not use.
    with open(osp.join(deploy, 'python', 'preprocess.py')) as f:
        source = ''.join(line for line in f
                         if 'det_preprocess import' not in line)
    ops_module = {}
    exec(compile(source, 'paddleclas/deploy/python/preprocess.py', 'exec'),
         ops_module)
    rgb = load_sample_image('china.jpg')
    theirs = rgb
    for op in ops_cfg:
        (name, params), = op.items()
        theirs = ops_module[name](**(params or {}))(theirs)
    ours = paddleclas_preprocess(rgb)
    assert ours.shape == (1, *theirs.shape) == (
        1, 3, PADDLECLAS_PREPROCESS['crop'], PADDLECLAS_PREPROCESS['crop'])
    np.testing.assert_allclose(ours[0], theirs, rtol=0, atol=1e-5)


#: Ours and one anchor each for classification and detection (with NMS),
#: the cheapest that still exercise every part of the anchor rows.
ANCHOR_RUN = ['lcnetv2-small-fused', 'timm-mobilenetv3-large-100',
              'picodet-small-320-nms', 'rtmdet-tiny-320-nms']


@pytest.mark.slow  # ~90 s: four models built, converted and timed
def test_anchor_rows_ratios_and_tradeoff_plot(tmp_path):
    """Anchor rows are timed in the same rounds as ours; the report has
    their ratios (every pair, ``missing`` for those not run), the detections
    the NMS graphs returned, the published accuracies with their sources,
    and the latency-accuracy plot places the rows measured at the size of
    their published accuracy."""
    from benchmarks import (plot_tradeoff, run_benchmark, to_index,
                                     to_markdown)
    from benchmarks.anchors import anchor_pairs
    from benchmarks.report import tradeoff_points
    result = run_benchmark(ANCHOR_RUN, ['f32'], threads=1, rounds=2,
                           iters=2, round_time=0.05, tput_time=0.05,
                           torch_eager=False, progress=False)
    rows = result['rows']
    assert set(rows) == {f'{m}@f32' for m in ANCHOR_RUN}
    for name in ANCHOR_RUN:
        assert len(rows[f'{name}@f32']['latency']['round_medians_ms']) == 2
    anchor = rows['timm-mobilenetv3-large-100@f32']
    assert anchor['anchor'] and anchor['input_shape'] == [1, 3, 224, 224]
    assert anchor['published']['source'].startswith(
        'https://huggingface.co/timm/mobilenetv3_large_100')
    assert 'anchor' not in rows['lcnetv2-small-fused@f32']
    # NMS graphs: what got through is recorded (max_per_img bounds it)
    assert 0 <= rows['picodet-small-320-nms@f32']['detections'] <= 100
    assert 0 <= rows['rtmdet-tiny-320-nms@f32']['detections'] <= 300
    ratios = {(g['numerator'], g['denominator']): g
              for g in result['anchor_ratios']}
    assert set(ratios) == {(f'{o}@f32', f'{a}@f32')
                           for o, a in anchor_pairs()}
    for pair in (('lcnetv2-small-fused@f32',
                  'timm-mobilenetv3-large-100@f32'),
                 ('picodet-small-320-nms@f32', 'rtmdet-tiny-320-nms@f32')):
        g = ratios[pair]
        assert g['rounds'] == 2 and g['min'] <= g['median'] <= g['max']
    assert ratios[('lcnetv2-small-fused@f32',
                   'timm-efficientnet-b0@f32')]['missing'] == [
        'timm-efficientnet-b0@f32']
    result['command'] = 'python tools/benchmark.py'
    md = to_markdown(result)
    section = md.split('## Against the anchors')[1]
    g = ratios[('picodet-small-320-nms@f32', 'rtmdet-tiny-320-nms@f32')]
    line = [ln for ln in section.splitlines()
            if ln.startswith('| picodet-small-320-nms | rtmdet-tiny-320-nms')]
    from benchmarks.report import iqr_pct, noisy
    spread = f", IQR ±{iqr_pct(g):.1f} %" + (' (noisy)' if noisy(g) else '')
    assert line == [f"| picodet-small-320-nms | rtmdet-tiny-320-nms | "
                    f"{g['median']:.3f} [{g['min']:.3f}, {g['max']:.3f}]"
                    f"{spread} |"]
    assert f"rtmdet-tiny-320-nms@f32 {rows['rtmdet-tiny-320-nms@f32']['detections']}" in section
    assert 'https://docs.ultralytics.com' not in section  # not run
    assert '| timm-efficientnet-b0 |' not in section  # no row measured
    assert anchor['published']['source'] in section
    index = to_index({'m': result})
    assert (f"| `picodet-small-320-nms` / `rtmdet-tiny-320-nms` | "
            f"f32 {g['median']:.3f} |") in index
    # the plot: ours and the anchor at 224, their published top-1 at 224;
    # the detectors have none at 320
    assert sorted(r['model'] for r in tradeoff_points(result)) == [
        'lcnetv2-small-fused', 'timm-mobilenetv3-large-100']
    plot_tradeoff(result, str(tmp_path / 't.png'))
    assert (tmp_path / 't.png').read_bytes()[:4] == b'\x89PNG'


def test_missing_optional_anchor_package_skips_its_rows_and_says_so():
    """Without ultralytics (its import made to fail in a child process),
    the YOLO11n rows are skipped with the reason, the run goes on, and the
    pairs with them are not measured."""
    code = (
        "import json, sys\n"
        "sys.modules['ultralytics'] = None  # import ultralytics fails\n"
        "from benchmarks import run_benchmark, to_markdown\n"
        "r = run_benchmark(['yolo11n-320', 'yolo11n-320-nms'],\n"
        "                  ['f32', 'int8'], rounds=1, iters=1,\n"
        "                  torch_eager=False, progress=False)\n"
        "r['command'] = 'x'\n"
        "print(json.dumps(dict(result=r, md=to_markdown(r))))\n")
    env = dict(os.environ, PYTHONWARNINGS='ignore:pkg_resources is deprecated')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    rows = out['result']['rows']
    assert set(rows) == {f'{m}@{p}' for m in ('yolo11n-320', 'yolo11n-320-nms')
                         for p in ('f32', 'int8')}
    for row in rows.values():
        assert row['skipped'].startswith('ultralytics not installed'), row
        assert 'requirements/anchors.txt' in row['skipped']
        assert 'latency' not in row
    assert any(n.startswith('Skipped rows: ultralytics not installed')
               for n in out['result']['notes'])
    pair = [g for g in out['result']['anchor_ratios']
            if g['denominator'] == 'yolo11n-320-nms@int8'][0]
    assert pair['missing'] == ['picodet-small-320-nms@int8',
                               'yolo11n-320-nms@int8']
    assert '| yolo11n-320 | f32 | skipped: ultralytics not installed' in \
        out['md']


def _lat(medians):
    """A row's latency stats from its per-round medians."""
    return dict(median_ms=float(sorted(medians)[len(medians) // 2]),
                p90_ms=float(max(medians)), samples=len(medians),
                round_medians_ms=list(medians))


def test_same_graph_pair_is_parity_within_its_band(monkeypatch):
    """Ours / PaddleClas PP-LCNetV2-base run one graph: a ratio within
    ±3 % reads 'parity' (not 'no' at 1.02, nor a win at 0.98), beyond the
    band it says so; other goals keep yes/no."""
    from benchmarks import report
    pair = ('lcnetv2-base-fused@f32', 'paddle-pplcnetv2-base@f32')
    goal = [g for g in report.GOALS if (g.numerator, g.denominator) == pair]
    assert goal and goal[0].parity == 0.03
    for ratio, verdict, mark in ((1.02, 'parity', '≈'), (0.98, 'parity', '≈'),
                                 (1.05, 'outside ±3 %', '(outside ±3 %)'),
                                 (0.95, 'outside ±3 %', '(outside ±3 %)')):
        rows = {pair[0]: dict(latency=_lat([ratio * 10] * 3)),
                pair[1]: dict(latency=_lat([10.0] * 3))}
        g = [g for g in report.goal_ratios(rows)
             if (g['numerator'], g['denominator']) == pair][0]
        assert g['parity'] == 0.03 and g['met'] == (ratio <= 1.03)
        assert report.verdict(g['median'], g['goal'], g['parity']) == verdict
        monkeypatch.setattr(report, 'GOALS', goal)
        line = [ln for ln in report.to_index(
            {'m': dict(machine=dict(cpu='c', isa=[], openvino='x'),
                       ratios=[g], rows={})}).splitlines()
                if ln.startswith(f'| `{pair[0]}`')][0]
        assert line.endswith(f'{mark} |') and '(parity ±3 %)' in line, line
        monkeypatch.undo()
    assert report.verdict(1.02, 1.0, None) == 'no'


def test_each_ratio_shows_its_iqr_and_noisy_ones_are_flagged():
    from benchmarks import report
    steady = report.pair_ratio(_lat([10, 10.1, 9.9, 10, 10.2]),
                               _lat([10] * 5))
    wild = report.pair_ratio(_lat([8, 12, 10, 9, 11]), _lat([10] * 5))
    assert steady['iqr_pct'] <= 5 and not report.noisy(steady)
    assert wild['iqr_pct'] == 10.0 and report.noisy(wild)
    assert '(beyond ±5 %)' in report.iqr_cell(wild)
    assert '±10.0 %' in report.iqr_cell(wild)
    assert 'beyond' not in report.iqr_cell(steady)


class _Steadying:
    """A row whose latency is noisy for ``noisy_rounds`` rounds, then
    steady: what extra rounds are for."""

    def __init__(self, noisy_rounds):
        self.calls = 0
        self.noisy_rounds = noisy_rounds

    def latencies(self, iters, max_time):
        self.calls += 1
        if self.calls <= self.noisy_rounds:
            return [10.0 + 3 * (-1) ** self.calls] * iters
        return [10.0] * iters


@pytest.mark.parametrize('max_rounds, noisy_rounds, expected', [
    (3, 3, 3),     # no extra rounds asked: stays noisy, says so
    (12, 3, 9),    # 3 wild rounds (x1.3, x0.7, x1.3) outvoted by 6 steady
    (6, 3, 6),     # not enough rounds allowed: stops at the most
    (12, 0, 3),    # steady from the start: no extra round
])
def test_extra_rounds_run_while_a_ratio_is_noisy(max_rounds, noisy_rounds,
                                                 expected):
    from tqdm import tqdm

    from benchmarks.runner import time_latency, noisy_ratios
    num, den = 'lcnetv2-base-fused@int8', 'lcnetv2-base-fused@f32'
    timed = {num: _Steadying(noisy_rounds), den: _Steadying(0)}
    rows = {k: {} for k in timed}
    with tqdm(disable=True) as bar:
        run = time_latency(timed, rows, 3, max_rounds, ['f32', 'int8'], 2,
                            1.0, bar)
    assert run == expected
    assert len(rows[num]['latency']['round_medians_ms']) == expected
    still = noisy_ratios(rows, ['f32', 'int8'])
    assert still == ([f'{num} / {den}'] if expected == max_rounds
                     and noisy_rounds else [])


def _row(model, task='detection', side=320, median=10.0, **extra):
    return dict(model=model, precision='f32', task=task,
                input_shape=[1, 3, side, side],
                latency=_lat([median, median * 1.2, median * 0.9]), **extra)


def test_plot_panels_hold_what_their_titles_say(tmp_path):
    """'network only' never holds a row with NMS in its graph (nor, in
    results written before rows said so, one named -nms or with counted
    detections)."""
    from benchmarks.report import PLOT_PANELS, plot, plot_panel
    rows = {'c': _row('lcnetv2-small-fused', 'classification', 224),
            'd': _row('picodet-small-320'),
            'n': _row('picodet-small-320-nms', nms=True),
            'old': _row('yolo11n-320-nms', detections=0),
            'll': _row('rtmdet-tiny-320-nms-c100', candidates=100),
            'e': _row('picodet-small-320-e2e-array', mode='array')}
    panels = {k: plot_panel(r) for k, r in rows.items()}
    assert panels == dict(c='classification', d='detection',
                          n='detection-nms', old='detection-nms',
                          ll='detection-nms', e='end to end')
    assert 'network only' in PLOT_PANELS['detection']
    assert 'NMS' in PLOT_PANELS['detection-nms']
    result = dict(rows=rows, settings=dict(threads=2),
                  machine=dict(cpu='c', isa=['avx2']))
    plot(result, str(tmp_path / 'p.png'))
    assert (tmp_path / 'p.png').read_bytes()[:4] == b'\x89PNG'


def test_tradeoff_plot_notes_every_model_it_leaves_out():
    """Models measured but not placed are named with the reason; ours is
    placed at its best published accuracy (PP-LCNetV2-base: SSLD's
    80.07, the README's weights table)."""
    from dataclasses import asdict

    from benchmarks.anchors import OURS_PUBLISHED
    from benchmarks.report import left_out, tradeoff_points
    base = OURS_PUBLISHED['lcnetv2-base-fused']
    assert (base.value, base.weights) == (80.07, 'SSLD')
    yolo = dict(metric='mAP', value=39.5, size=640, source='u')
    rows = {'b': _row('lcnetv2-base-fused', 'classification', 224,
                      published=asdict(base)),
            'u': _row('lcnetv2-base-unfused', 'classification', 224),
            'y': _row('yolo11n-320', published=yolo, anchor=True),
            'y6': _row('yolo11n-640', side=640, published=yolo,
                       anchor=True),
            'p': _row('picodet-small-320'),
            'e': _row('picodet-small-320-e2e-array', mode='array')}
    result = dict(rows=rows)
    assert [r['model'] for r in tradeoff_points(result)] == [
        'lcnetv2-base-fused', 'yolo11n-640']
    assert left_out(result, 'classification') == [
        'lcnetv2-base-unfused: no published accuracy']
    # ours without a published mAP is drawn as a line, not left out
    assert left_out(result, 'detection') == [
        'yolo11n-320: run at 320, its published mAP 39.5 is at 640']


@pytest.mark.slow  # ~40 s (minutes on a loaded machine): two detectors
@pytest.mark.parametrize('name', ['picodet-small-320-nms-c100',
                                  'rtmdet-tiny-320-nms-c1000'])
def test_like_for_like_rows_plant_the_candidates_entering_nms(name,
                                                              monkeypatch):
    """The planted bias lets N candidates into NMS on the benchmark input,
    counted where mmdet's own post-processing hands them to its NMS
    (``batched_nms`` in ``BaseDenseHead._bbox_post_process``)."""
    import torch
    from mmdet.models.dense_heads import base_dense_head

    from benchmarks.random_init import random_image
    from benchmarks.zoo import Ours
    entry = get_entries([name])[0]
    wanted = int(name.rsplit('-c', 1)[1])
    torch.manual_seed(0)  # as the benchmark builds it
    built = entry.build(entry.size)
    if isinstance(built, Ours):  # planted before the export fuses it
        detector, planted = built.model, built.planted
    else:
        detector, planted = built.detector, built.planted_candidates
    # the least count at or above N the bisection reaches (scores that
    # cross the threshold together may add one or two)
    assert wanted <= planted <= wanted * 1.01
    seen = []
    nms = base_dense_head.batched_nms

    def counting_nms(boxes, scores, *args, **kwargs):
        seen.append(len(boxes))
        return nms(boxes, scores, *args, **kwargs)

    monkeypatch.setattr(base_dense_head, 'batched_nms', counting_nms)
    x = torch.from_numpy(random_image(entry.size))
    meta = dict(img_shape=entry.size, ori_shape=entry.size,
                scale_factor=(1.0, 1.0), pad_shape=entry.size)
    with torch.no_grad():
        detector.bbox_head.predict_by_feat(
            *detector.bbox_head(detector.extract_feat(x)),
            batch_img_metas=[meta], rescale=False)
    assert seen == [planted]


def test_max_rounds_below_rounds_is_refused_in_one_line():
    proc = _tool('--rounds', '5', '--max-rounds', '3', '--list')
    assert proc.returncode == 2
    assert '--max-rounds 3: must be at least --rounds (5)' in proc.stderr


@pytest.mark.slow  # ~30 s: two exports and one deploy run
def test_our_rows_time_the_ir_tools_deploy_writes(tmp_path):
    """A row of ours compiles the IR that ``tools/deploy.py`` writes of the
    same weights and settings: the same ops, the same outputs; its int8
    row is deploy's int8 export (it carries the export's Model API info,
    which no graph converted by the benchmark itself has)."""
    import numpy as np
    import openvino as ov

    from benchmarks.runner import entry_graphs
    from benchmarks.random_init import random_image
    from mmlcnetv2.commands import deploy
    from mmlcnetv2.model_index import resolve_config
    entry = ENTRIES['lcnetv2-small-fused']
    work = tmp_path / 'work'
    work.mkdir()
    graphs = entry_graphs(entry, (64, 64), str(work))
    assert graphs.exported
    ckpt = work / 'lcnetv2-small-fused-f32.pth'  # the weights it exported
    out = tmp_path / 'deployed'
    assert deploy.main([resolve_config(entry.config.partition('::')[2]),
                        str(ckpt), '--out', str(out), '--shape', '64', '64',
                        '--input', 'float']) == 0
    core = ov.Core()
    deployed = core.read_model(str(out / 'model.xml'))

    def ops(model):
        return [op.get_type_name() for op in model.get_ordered_ops()]

    assert ops(graphs.graph('f32')) == ops(deployed)
    x = random_image((64, 64))
    results = [core.compile_model(m, 'CPU', {
        'INFERENCE_PRECISION_HINT': 'f32'})(x)[0]
        for m in (graphs.graph('f32'), deployed)]
    np.testing.assert_array_equal(results[0], results[1])
    int8 = graphs.graph('int8')
    assert int8.has_rt_info('model_info')
    assert any(op.get_type_name() == 'FakeQuantize'
               for op in int8.get_ordered_ops())
