"""No tool writes over its inputs or an export's own files (issue 19, item
2): a refused output is one line, exit status 2, and every input byte-
identical afterwards; what a killed run left is cleaned by the next run,
and only that; two exports racing into one new folder end in one export
and one named refusal; a folder's .gif images are processed."""
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import snapshot
from test_deploy_safety import ROOT, tiny  # noqa: F401  (fixture)
from tools import infer as infer_tool
from tools import reparameterize as reparameterize_tool
from tools.data import make_digits, make_shapes, make_shapes_seg

pytest.importorskip('openvino')
PYTHON = sys.executable


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    return lines[0]


def _refused(code: int, capsys, *words: str) -> str:
    """Exit status 2 and one ``error:`` line naming ``words``."""
    line = _one_line(capsys.readouterr().err)
    assert code == 2, line
    assert line.startswith('error: ') and 'Traceback' not in line
    for word in words:
        assert word in line, line
    return line


@pytest.fixture
def photos(tmp_path):
    """imgs/china.jpg and imgs/flower.jpg: scikit-learn's real photos."""
    from sklearn.datasets import load_sample_image
    folder = tmp_path / 'imgs'
    folder.mkdir()
    for name in ('china.jpg', 'flower.jpg'):
        cv2.imwrite(str(folder / name), load_sample_image(name)[:, :, ::-1])
    return folder


# ------------------------------------------------------- tools/infer.py
def test_infer_out_dir_the_images_folder_is_refused(tiny, photos, capsys):
    before = snapshot(str(photos))
    code = infer_tool.main([tiny['ir'], str(photos), '--out-dir',
                            str(photos)])
    _refused(code, capsys, '--out-dir', 'china.jpg', 'input image')
    assert snapshot(str(photos)) == before


def test_infer_out_dir_of_a_single_image_is_refused(tiny, photos, capsys):
    before = snapshot(str(photos))
    code = infer_tool.main([tiny['ir'], str(photos / 'china.jpg'),
                            '--out-dir', str(photos)])
    _refused(code, capsys, '--out-dir', 'china.jpg')
    assert snapshot(str(photos)) == before


@pytest.mark.parametrize('target', ['image', 'link', 'deploy.json',
                                    'model.bin'])
def test_infer_out_json_over_an_input_is_refused(tiny, photos, tmp_path,
                                                 capsys, target):
    ir = tmp_path / 'IR'
    shutil.copytree(tiny['ir'], ir)
    if target == 'image':
        out = photos / 'flower.jpg'
    elif target == 'link':  # a symlink to an input image is that image
        out = tmp_path / 'results.jsonl'
        out.symlink_to(photos / 'flower.jpg')
    else:
        out = ir / target
    before = snapshot(str(tmp_path))
    code = infer_tool.main([str(ir), str(photos), '--out-dir',
                            str(tmp_path / 'vis'), '--out-json', str(out)])
    _refused(code, capsys, '--out-json', 'input file')
    assert snapshot(str(tmp_path)) == before
    assert not (tmp_path / 'vis').exists()


def test_infer_out_json_a_folder_and_out_dir_a_file(tiny, photos, tmp_path,
                                                    capsys):
    before = snapshot(str(tmp_path))
    code = infer_tool.main([tiny['ir'], str(photos), '--out-dir',
                            str(tmp_path / 'vis'), '--out-json',
                            str(tmp_path)])
    _refused(code, capsys, '--out-json', 'is a directory')
    code = infer_tool.main([tiny['ir'], str(photos), '--out-dir',
                            str(photos / 'china.jpg')])
    _refused(code, capsys, '--out-dir', 'is a file')
    assert snapshot(str(tmp_path)) == before


def test_infer_unknown_device_is_one_line(tiny, photos, tmp_path, capsys):
    code = infer_tool.main([tiny['ir'], str(photos), '--out-dir',
                            str(tmp_path / 'vis'), '--device', 'FOO'])
    _refused(code, capsys, "'FOO'", 'available: CPU')
    assert not (tmp_path / 'vis').exists()


def test_infer_folder_takes_gif_images(tiny, tmp_path, capsys):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), np.uint8)).save(
        folder / 'anim.gif')
    cv2.imwrite(str(folder / 'still.png'),
                rng.integers(0, 256, (40, 50, 3), np.uint8))
    out = tmp_path / 'vis'
    code = infer_tool.main([tiny['ir'], str(folder), '--out-dir', str(out)])
    assert code == 0, capsys.readouterr().err
    assert 'wrote 2 pictures' in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['anim.gif', 'still.png']


# ------------------------------------------ tools/reparameterize.py
@pytest.mark.parametrize('how', ['same', 'hardlink', 'config'])
def test_reparameterize_out_over_its_input_is_refused(tiny, tmp_path,
                                                      capsys, how):
    ckpt = tmp_path / 'rp.pth'
    shutil.copy(tiny['checkpoint'], ckpt)
    config = tmp_path / 'cls.py'
    shutil.copy(tiny['config'], config)
    shutil.copy(osp.join(osp.dirname(tiny['config']), 'tiny_classifier.py'),
                tmp_path)
    out = {'same': ckpt, 'hardlink': tmp_path / 'fused.pth',
           'config': config}[how]
    if how == 'hardlink':
        os.link(ckpt, out)
    before = snapshot(str(tmp_path))
    code = reparameterize_tool.main([str(config), str(ckpt), str(out)])
    _refused(code, capsys, 'input file')
    assert snapshot(str(tmp_path)) == before


# ------------------------------------------ the other tools that write
def test_deploy_test_out_over_the_export_is_refused(tiny, tmp_path, capsys):
    from tools import deploy_test as deploy_test_tool
    ir = tmp_path / 'IR'
    shutil.copytree(tiny['ir'], ir)
    before = snapshot(str(ir))
    code = deploy_test_tool.main([tiny['config'], str(ir), '--out',
                                  str(ir / 'deploy.json')])
    _refused(code, capsys, '--out', 'deploy.json', 'input file')
    assert snapshot(str(ir)) == before


def test_demo_restart_leaves_a_work_dir_not_its_own(tmp_path, capsys):
    from tools import demo as demo_tool
    work = tmp_path / 'home'
    (work / 'project').mkdir(parents=True)
    (work / 'project' / 'thesis.tex').write_text('mine')
    before = snapshot(str(work))
    code = demo_tool.main(['--work-dir', str(work), '--restart',
                           '--data-root', str(tmp_path / 'shapes'),
                           '--num-train', '1', '--num-val', '1'])
    _refused(code, capsys, '--work-dir', str(work), 'left alone')
    assert snapshot(str(work)) == before


# ------------------------------------------------- tools/data/*.py
@pytest.fixture
def data_folder(tmp_path):
    """data/ holding another dataset and a note of the user's."""
    data = tmp_path / 'data'
    (data / 'coco' / 'train2017').mkdir(parents=True)
    (data / 'coco' / 'train2017' / '1.jpg').write_bytes(b'\xff\xd8 a photo')
    (data / 'notes.txt').write_text('mine')
    return data


@pytest.mark.parametrize('tool', [make_shapes, make_shapes_seg])
@pytest.mark.parametrize('force', [[], ['--force']])
def test_generators_leave_a_folder_of_other_data(data_folder, capsys, tool,
                                                 force):
    before = snapshot(str(data_folder))
    code = tool.main(['--out', str(data_folder), '--num-train', '1',
                      '--num-val', '1', '--img-size', '64', *force])
    _refused(code, capsys, str(data_folder), 'left alone')
    assert snapshot(str(data_folder)) == before
    assert sorted(os.listdir(data_folder.parent)) == ['data']


def test_generators_replace_their_own_data_with_force(tmp_path, capsys):
    out = tmp_path / 'shapes'
    args = ['--out', str(out), '--num-train', '1', '--num-val', '1',
            '--img-size', '64']
    assert make_shapes.main(args) == 0
    assert make_shapes.main(args + ['--seed', '1']) == 0  # other data
    assert make_shapes.main(args + ['--force']) == 0
    assert 'wrote' in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ['shapes']


def test_make_digits_force_leaves_a_folder_of_other_data(data_folder,
                                                         capsys):
    before = snapshot(str(data_folder))
    code = make_digits.main(['--out', str(data_folder), '--limit', '5',
                             '--force'])
    _refused(code, capsys, str(data_folder), 'left alone')
    assert snapshot(str(data_folder)) == before
    # its own dataset it replaces
    out = data_folder.parent / 'digits'
    assert make_digits.main(['--out', str(out), '--limit', '5']) == 0
    assert make_digits.main(['--out', str(out), '--limit', '8',
                             '--force']) == 0
    assert sum(len(f) for _, _, f in os.walk(out)) == 8


# ------------------------------------------- leftovers of a killed run
KILLED_WRITE = """
import os, signal, sys
from mmlcnetv2.utils.atomic import atomic_dir, atomic_file, atomic_update
with atomic_{kind}(sys.argv[1]) as tmp:
    if '{kind}' == 'file':
        open(tmp, 'wb').write(b'half a pic')
    else:
        open(os.path.join(tmp, 'half'), 'w').write('x')
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_write(kind: str, path) -> None:
    """A process SIGKILLed while writing ``path`` with atomic_``kind``."""
    done = subprocess.run(
        [PYTHON, '-c', KILLED_WRITE.format(kind=kind), str(path)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == -signal.SIGKILL


def test_killed_picture_is_hidden_and_cleaned_by_the_next_run(
        tiny, photos, tmp_path, capsys):
    out = tmp_path / 'vis'
    out.mkdir()
    _killed_write('file', out / 'china.jpg')
    left = os.listdir(out)
    assert len(left) == 1 and left[0].startswith('.china.jpg.tmp-'), left
    # Not ours: a user's files of similar names, and a live process's.
    users = ['tmpabcdefgh.jpg', '.china.jpg.tmp-x', 'notes.tmp-1-abc']
    for name in users:
        (out / name).write_bytes(b'mine')
    live = f'.flower.jpg.tmp-{os.getppid()}-abcdefgh.jpg'
    (out / live).write_bytes(b'being written')
    code = infer_tool.main([tiny['ir'], str(photos), '--out-dir', str(out)])
    assert code == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == sorted(
        ['china.jpg', 'flower.jpg', live] + users)
    assert all((out / n).read_bytes() == b'mine' for n in users)


def test_killed_dataset_write_is_cleaned_and_old_data_kept(tmp_path,
                                                           capsys):
    out = tmp_path / 'shapes'
    args = ['--out', str(out), '--num-train', '1', '--num-val', '1',
            '--img-size', '64']
    _killed_write('dir', out)  # a first run, killed
    assert [n.startswith('.shapes.tmp-') for n in os.listdir(tmp_path)] \
        == [True]
    assert make_shapes.main(args) == 0
    assert os.listdir(tmp_path) == ['shapes']
    kept = snapshot(str(out))
    _killed_write('dir', out)  # a run replacing it, killed
    assert make_shapes.main(args) == 0  # the same data: kept
    assert os.listdir(tmp_path) == ['shapes']
    assert snapshot(str(out)) == kept
    assert 'kept existing' in capsys.readouterr().out


def test_killed_export_leftover_is_cleaned_by_the_next_export(tiny,
                                                              tmp_path):
    """An export into an empty folder, killed: the folder holds only our
    leftover, which neither makes it 'not an export' nor stays."""
    from tools import deploy as deploy_tool
    out = tmp_path / 'IR'
    out.mkdir()
    _killed_write('update', out)
    assert [n.startswith('.update.tmp-') for n in os.listdir(out)] == [True]
    assert deploy_tool.main([tiny['config'], tiny['checkpoint'], '--out',
                             str(out)]) == 0
    owned = json.loads((out / 'deploy.json').read_text())['files']
    assert 'model_api.xml' in owned  # the default form writes it too
    assert sorted(os.listdir(out)) == sorted(owned)  # and no leftover


def test_folder_set_aside_by_a_killed_replace_is_put_back(tmp_path):
    """Killed between moving the old folder aside and the new one in: the
    old one is the only copy, and the next run restores it."""
    from mmlcnetv2.utils.atomic import clean_leftovers
    dead = subprocess.run([PYTHON, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    aside = tmp_path / f'.shapes.old-{dead}-abcdefgh' / 'shapes'
    aside.mkdir(parents=True)
    (aside / 'meta.json').write_text('{}')
    (tmp_path / f'.shapes.tmp-{dead}-abcdefgh').mkdir()
    assert len(clean_leftovers(str(tmp_path))) == 2
    assert os.listdir(tmp_path) == ['shapes']
    assert (tmp_path / 'shapes' / 'meta.json').read_text() == '{}'


# ---------------------------------------------- tools/deploy.py race
@pytest.mark.slow
def test_two_exports_into_one_new_folder(tiny, tmp_path):
    out = tmp_path / 'IR'
    cmd = [PYTHON, osp.join(ROOT, 'tools', 'deploy.py'), tiny['config'],
           tiny['checkpoint'], '--out', str(out)]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    runs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = sorted((p.wait(timeout=600), p.stderr.read()) for p in runs)
    assert [code for code, _ in results] == [0, 2], results
    line = [ln for ln in results[1][1].splitlines()
            if ln.startswith('error:')]
    assert len(line) == 1 and str(out) in line[0], results[1][1]
    assert 'Traceback' not in results[1][1]
    from mmlcnetv2.deploy import OpenVINOInferencer
    OpenVINOInferencer(str(out))  # a whole export
    assert sorted(os.listdir(tmp_path)) == ['IR']
