"""tools/demo.py end to end on a few images: data, training, metrics,
pictures, this machine's results file; a rerun continues from the
checkpoints instead of starting over. What the demo produces is checked
(files, keys, ranges), never what a model trained here scores."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmlcnetv2.commands.demo_results import METRIC_KEYS, demo_machine

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Every point kept (no score threshold), so that CocoMetric has detections
# to score after one iteration and the metrics are numbers, not n/a.
KEEP_ALL = ['--cfg-options', 'model.test_cfg.score_thr=0.0']


def run_demo(tmp_path, *extra):
    cmd = [
        sys.executable, osp.join(ROOT, 'tools', 'demo.py'), '--work-dir',
        str(tmp_path / 'work'), '--data-root', str(tmp_path / 'shapes'),
        '--num-train', '8', '--num-val', '2', '--results-dir',
        str(tmp_path / 'results'), *extra
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_demo_runs_and_reruns(tmp_path):
    out = run_demo(tmp_path, '--max-epochs', '1', *KEEP_ALL)
    assert 'bbox mAP@0.5' in out
    # a fresh process: the demo itself turned flush-to-zero on
    assert 'denormals: flushed to zero in every torch thread' in out
    work = tmp_path / 'work'
    with open(work / 'demo_metrics.json') as f:
        summary = json.load(f)
    assert summary['checkpoint'].endswith('epoch_1.pth')
    assert osp.isfile(summary['checkpoint'])
    pictures = sorted(os.listdir(summary['pictures']))
    assert pictures == ['000000.jpg', '000001.jpg']

    # This machine's results: its own file, named by CPU model and ISA
    # class, and the index of every machine's files.
    slug = demo_machine()['slug']
    results = tmp_path / 'results'
    assert sorted(os.listdir(results)) == sorted(
        [f'{slug}.json', f'{slug}.md', 'README.md'])
    with open(results / f'{slug}.json') as f:
        result = json.load(f)
    assert result['machine']['slug'] == slug
    assert result['machine']['cpu'] and result['machine']['isa_class']
    assert set(result['metrics']) == set(METRIC_KEYS)
    for key in ('bbox_mAP_50', 'bbox_mAP'):  # scored: every point kept
        assert 0.0 <= result['metrics'][key] <= 1.0, key
    for key, value in result['metrics'].items():  # None: no GT that size
        assert value is None or 0.0 <= value <= 1.0, key
    assert result['train_iters_this_run'] == 1  # 8 images, batch 8
    assert result['seconds']['train'] > 0
    assert result['seconds']['train_cpu'] > 0
    assert f'[{slug}]({slug}.md)' in (results / 'README.md').read_text()
    # Another class's file is kept, and indexed beside this one.
    other = dict(result, machine=dict(result['machine'], slug='other_avx2'))
    with open(results / 'other_avx2.json', 'w') as f:
        json.dump(other, f)

    # As after an interruption: the rerun resumes from the last checkpoint
    # (here with a longer schedule) and keeps the data.
    meta = tmp_path / 'shapes' / 'meta.json'
    mtime = meta.stat().st_mtime
    out = run_demo(tmp_path, '--max-epochs', '2', *KEEP_ALL)
    assert 'Auto resumed from the latest checkpoint' in out
    assert '[demo] data: found' in out
    assert meta.stat().st_mtime == mtime
    with open(work / 'demo_metrics.json') as f:
        assert json.load(f)['checkpoint'].endswith('epoch_2.pth')
    with open(results / f'{slug}.json') as f:
        assert json.load(f)['train_iters_this_run'] == 1  # epoch 2 only
    index = (results / 'README.md').read_text()
    assert '[other_avx2](other_avx2.md)' in index and f'[{slug}]' in index
    assert (results / 'other_avx2.json').is_file()


def test_bad_results_dir(tmp_path):
    """A --results-dir that cannot hold the results is refused before the
    data and the training, with one line and exit status 2."""
    blocker = tmp_path / 'file'
    blocker.write_text('')
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'demo.py'),
         '--work-dir', str(tmp_path / 'work'),
         '--data-root', str(tmp_path / 'shapes'),
         '--results-dir', str(blocker / 'results')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f'--results-dir {blocker / "results"}' in proc.stderr
    assert not (tmp_path / 'shapes').exists()
    assert not (tmp_path / 'work').exists()


def test_results_in_a_work_dir_index_machine_files_only(tmp_path):
    """A quick run (or one outside a checkout) writes its results file into
    the work dir, beside demo_metrics.json and whatever else is there: the
    index lists the machines' files and reads nothing else."""
    from mmlcnetv2.commands.demo_results import demo_result, save_demo_result
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'demo_metrics.json').write_text(json.dumps(dict(
        config='configs/det/x.py', bbox_mAP=0.5, metrics={}, seconds={})))
    (work / 'notes.json').write_text('["a user\'s list"]')
    seconds = dict(setup_data=1.0, train=2.0, train_cpu=3.0,
                   train_per_iter=0.5, test_and_pictures=1.0)
    result = demo_result({'coco/bbox_mAP': 0.25}, demo_machine(),
                         command='mmlcnetv2 demo', config='configs/det/x.py',
                         schedule='1 epoch', num_train=8, num_val=2,
                         seconds=seconds)
    written = save_demo_result(result, str(work))
    slug = result['machine']['slug']
    assert [osp.basename(p) for p in written] == [
        f'{slug}.json', f'{slug}.md', 'README.md']
    index = (work / 'README.md').read_text()
    rows = [ln for ln in index.splitlines() if ln.startswith('| [')]
    assert len(rows) == 1 and rows[0].startswith(f'| [{slug}]({slug}.md)')
    assert (work / 'notes.json').read_text() == '["a user\'s list"]'
