"""benchmarks/experiments/measure_int8_drop.py: the per-machine pages it writes
(docs/int8/), from planted results (no model is trained or exported)."""
import importlib.util
import json
import os
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'measure_int8_drop',
        osp.join(REPO, 'benchmarks', 'experiments', 'measure_int8_drop.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(value, drop, **extra):
    return dict(metric='coco/bbox_mAP', value=value, drop=drop, images=10,
                agreement=0.9, latency_ms=2.0, latency_ratio=0.5, **extra)


def _result(slug, det_int8=0.5):
    """A run record as ``run_record`` makes it, with planted values."""
    result = dict(
        command='python benchmarks/experiments/measure_int8_drop.py --tasks '
        'digits shapes-det --work-dir W --results-dir D',
        machine=dict(cpu='Planted CPU', isa=['avx2'], isa_class='avx2',
                     slug=slug, physical_cores=2, openvino='o', nncf='n',
                     torch='t', python='p'),
        date='2026-12-07', seconds=5, threads=2, calib=300, rounds=3,
        max_drop=0.01,
        models={
            'digits': dict(
                config='configs/cls/pplcnetv2-small_digits.py',
                checkpoint='work_dirs/d/epoch_14.pth',
                schedule='epoch 14 of 14',
                rows=dict(f32=dict(_row(0.95, 0.0), metric='accuracy/top1'),
                          int8=dict(_row(0.94, 0.01),
                                    metric='accuracy/top1'))),
            'shapes-det': dict(
                config='configs/det/x.py', checkpoint='/w/epoch_7.pth',
                schedule='epoch 7 of 7',
                rows={'f32': _row(0.6, 0.0),
                      'int8': _row(det_int8, 0.6 - det_int8),
                      'int8-head': _row(0.45, 0.15),
                      'int8-all': dict(broken='outputs shaped [[4000, 100, '
                                       '5]] for one image, f32 [[1, 100, 5]]',
                                       one_run_ms=2840.0)}),
        })
    for model in result['models'].values():
        model.update(command=result['command'], date=result['date'])
    return result


def test_pages_from_planted_results(tool, tmp_path):
    folder = str(tmp_path / 'int8')
    written = tool.save_results(_result('cpu-a_avx2'), folder)
    assert sorted(osp.basename(p) for p in written) == [
        'README.md', 'cpu-a_avx2.json', 'cpu-a_avx2.md']
    page = open(osp.join(folder, 'cpu-a_avx2.md')).read()
    assert 'do not edit by hand' in page
    assert '--tasks digits shapes-det --work-dir W' in page  # the command
    assert 'Planted CPU' in page and '`avx2`' in page
    # The summary rows (task, `config`, ...): value (difference from f32)
    # per export.
    rows = {ln.split(' | ')[0]: ln for ln in page.splitlines()
            if ln.startswith(('| digits | `', '| shapes-det | `'))}
    assert '| 0.9500 | 0.9400 (-0.0100) | – | – |' in rows['| digits']
    det = rows['| shapes-det']
    assert '0.5000 (-0.1000)' in det and '0.4500 (-0.1500)' in det
    assert 'broken: outputs shaped [[4000, 100, 5]]' in det
    assert 'one run 2840 ms' in det
    # Every table row has as many cells as its header.
    for table in page.split('\n\n'):
        lines = [ln for ln in table.splitlines() if ln.startswith('|')]
        assert len({ln.count('|') for ln in lines}) <= 1, table

    # Another machine's run adds its rows to the index and leaves these
    # files alone; a rerun of the first replaces its own.
    before = open(osp.join(folder, 'cpu-a_avx2.json')).read()
    tool.save_results(_result('cpu-b_avx512-vnni', det_int8=0.55), folder)
    assert open(osp.join(folder, 'cpu-a_avx2.json')).read() == before
    index = open(osp.join(folder, 'README.md')).read()
    assert 'do not edit by hand' in index
    assert '| [cpu-a_avx2](cpu-a_avx2.md) | shapes-det | coco/bbox_mAP | ' \
        '0.6000 | 0.5000 | -0.1000 |' in index
    assert '| [cpu-b_avx512-vnni](cpu-b_avx512-vnni.md) | shapes-det | ' \
        'coco/bbox_mAP | 0.6000 | 0.5500 | -0.0500 |' in index
    tool.save_results(_result('cpu-a_avx2', det_int8=0.3), folder)
    assert json.load(open(osp.join(folder, 'cpu-a_avx2.json')))[
        'models']['shapes-det']['rows']['int8']['value'] == 0.3
    # A run of one task keeps the machine's other tasks, each with its
    # own command.
    one = _result('cpu-a_avx2', det_int8=0.2)
    one['command'] = 'python benchmarks/experiments/measure_int8_drop.py --tasks ' \
        'shapes-det --work-dir W2'
    del one['models']['digits']
    for model in one['models'].values():
        model['command'] = one['command']
    tool.save_results(one, folder)
    saved = json.load(open(osp.join(folder, 'cpu-a_avx2.json')))['models']
    assert sorted(saved) == ['digits', 'shapes-det']
    assert saved['shapes-det']['rows']['int8']['value'] == 0.2
    assert saved['digits']['rows']['int8']['value'] == 0.94
    page = open(osp.join(folder, 'cpu-a_avx2.md')).read()
    assert '--tasks shapes-det --work-dir W2' in page
    assert '--tasks digits shapes-det --work-dir W' in page
    assert sorted(os.listdir(folder)) == [
        'README.md', 'cpu-a_avx2.json', 'cpu-a_avx2.md',
        'cpu-b_avx512-vnni.json', 'cpu-b_avx512-vnni.md']


@pytest.mark.parametrize('argv, named', [
    (['--work-dir', 'w'], 'CONFIG CHECKPOINT pairs or --tasks'),
    (['--tasks', 'digits', '--checkpoint', 'shapes-det=x.pth',
      '--work-dir', 'w'], "'shapes-det=x.pth'"),
    (['--tasks', 'digits', '--checkpoint', 'digits=/no/such.pth',
      '--work-dir', 'w'], "'/no/such.pth'"),
])
def test_bad_models_are_refused(tool, argv, named):
    with pytest.raises(ValueError, match=named.replace('.', r'\.')):
        tool.resolve_models(tool.parse_args(argv))


def test_tasks_resolve_to_their_configs(tool):
    models = tool.resolve_models(tool.parse_args(
        ['--tasks', 'digits', 'shapes-det', 'shapes-seg', '--work-dir',
         'w']))
    assert list(models) == ['digits', 'shapes-det', 'shapes-seg']
    for model in models.values():
        assert osp.isfile(model['config']) and model['checkpoint'] is None
    assert models['digits']['shape'] == (64, 64)
