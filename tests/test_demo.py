"""tools/demo.py end to end on a few images: data, training, metrics,
pictures; a rerun continues from the checkpoints instead of starting over."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_demo(tmp_path, *extra):
    cmd = [
        sys.executable, osp.join(ROOT, 'tools', 'demo.py'), '--work-dir',
        str(tmp_path / 'work'), '--data-root', str(tmp_path / 'shapes'),
        '--num-train', '8', '--num-val', '2', *extra
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_demo_runs_and_reruns(tmp_path):
    out = run_demo(tmp_path, '--max-epochs', '1')
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
    # As after an interruption: the rerun resumes from the last checkpoint
    # (here with a longer schedule) and keeps the data.
    meta = tmp_path / 'shapes' / 'meta.json'
    mtime = meta.stat().st_mtime
    out = run_demo(tmp_path, '--max-epochs', '2')
    assert 'Auto resumed from the latest checkpoint' in out
    assert '[demo] data: found' in out
    assert meta.stat().st_mtime == mtime
    with open(work / 'demo_metrics.json') as f:
        assert json.load(f)['checkpoint'].endswith('epoch_2.pth')
