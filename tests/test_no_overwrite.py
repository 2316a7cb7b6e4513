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
from mmlcnetv2.commands import infer as infer_tool
from mmlcnetv2.commands import reparameterize as reparameterize_tool
from mmlcnetv2.datasets.generate import digits as make_digits
from mmlcnetv2.datasets.generate import shapes as make_shapes
from mmlcnetv2.datasets.generate import shapes_seg as make_shapes_seg

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


def test_infer_out_dir_keeps_a_file_it_did_not_write(tiny, photos, capsys):
    """``infer.py IR imgs/sub --out-dir imgs``: the picture of
    imgs/sub/horse.png would replace the user's unrelated imgs/horse.png."""
    (photos / 'sub').mkdir()
    shutil.copy(photos / 'china.jpg', photos / 'sub' / 'horse.png')
    cv2.imwrite(str(photos / 'horse.png'), cv2.imread(
        str(photos / 'flower.jpg')))
    before = snapshot(str(photos))
    code = infer_tool.main([tiny['ir'], str(photos / 'sub'), '--out-dir',
                            str(photos)])
    _refused(code, capsys, '--out-dir', str(photos / 'horse.png'),
             'not written by tools/infer.py')
    assert snapshot(str(photos)) == before


def test_infer_replaces_its_own_pictures_only(tiny, photos, tmp_path,
                                              capsys):
    out = tmp_path / 'vis'
    args = [tiny['ir'], str(photos), '--out-dir', str(out)]
    assert infer_tool.main(args) == 0
    assert infer_tool.main(args) == 0  # its own pictures: replaced
    assert 'wrote 2 pictures' in capsys.readouterr().out
    # Changed since (or a user's file put there): not its own any more.
    (out / 'flower.jpg').write_bytes(b'my edit')
    before = snapshot(str(out))
    _refused(infer_tool.main(args), capsys, str(out / 'flower.jpg'))
    assert snapshot(str(out)) == before


@pytest.mark.parametrize('earlier_run', [False, True])
def test_infer_out_json_a_picture_of_the_run_is_refused(
        tiny, photos, tmp_path, capsys, earlier_run):
    out = tmp_path / 'vis'
    args = [tiny['ir'], str(photos), '--out-dir', str(out)]
    if earlier_run:
        assert infer_tool.main(args) == 0
        capsys.readouterr()
    before = snapshot(str(tmp_path))
    code = infer_tool.main(args + ['--out-json', str(out / 'china.jpg')])
    _refused(code, capsys, '--out-json', 'picture')
    assert snapshot(str(tmp_path)) == before
    assert out.exists() == earlier_run


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
    assert sorted(os.listdir(out)) == ['.mmlcnetv2-outputs.json',
                                       'anim.gif', 'still.png']


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
    from mmlcnetv2.commands import deploy_test as deploy_test_tool
    ir = tmp_path / 'IR'
    shutil.copytree(tiny['ir'], ir)
    before = snapshot(str(ir))
    code = deploy_test_tool.main([tiny['config'], str(ir), '--out',
                                  str(ir / 'deploy.json')])
    _refused(code, capsys, '--out', 'deploy.json', 'input file')
    assert snapshot(str(ir)) == before


def _foreign_work_dir(work, kind: str) -> None:
    """A folder of the user's: a project, or another run's mmengine work
    dir (``last_checkpoint``, a checkpoint, logs, notes)."""
    if kind == 'project':
        (work / 'project').mkdir(parents=True)
        (work / 'project' / 'thesis.tex').write_text('mine')
        return
    (work / '20261201_101010').mkdir(parents=True)
    (work / '20261201_101010' / '20261201_101010.log').write_text('log')
    (work / 'epoch_12.pth').write_bytes(b'weights of 12 epochs')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_12.pth'))
    (work / 'notes.txt').write_text('lr 0.1 was too high')


@pytest.mark.parametrize('kind', ['project', 'mmengine work dir'])
@pytest.mark.parametrize('restart', [['--restart'], []])
def test_demo_leaves_a_work_dir_not_its_own(tmp_path, capsys, kind,
                                            restart):
    from mmlcnetv2.commands import demo as demo_tool
    work = tmp_path / 'home'
    _foreign_work_dir(work, kind)
    before = snapshot(str(work))
    code = demo_tool.main(['--work-dir', str(work), *restart,
                           '--data-root', str(tmp_path / 'shapes'),
                           '--num-train', '1', '--num-val', '1',
                           '--max-epochs', '1'])
    _refused(code, capsys, '--work-dir', str(work), 'left alone')
    assert snapshot(str(work)) == before
    assert sorted(os.listdir(tmp_path)) == ['home']  # no data written


def test_demo_restart_deletes_only_the_folder_it_made(tmp_path):
    from mmlcnetv2.commands import demo as demo_tool
    work = tmp_path / 'work'
    demo_tool.claim_work_dir(str(work), restart=False)  # made: marked
    (work / 'epoch_1.pth').write_bytes(b'weights')
    demo_tool.claim_work_dir(str(work), restart=False)  # a rerun: kept
    assert (work / 'epoch_1.pth').read_bytes() == b'weights'
    demo_tool.claim_work_dir(str(work), restart=True)
    assert os.listdir(work) == [demo_tool.MARKER]
    # A look-alike marker (a user's file of that name) is not the demo's.
    other = tmp_path / 'other'
    other.mkdir()
    (other / demo_tool.MARKER).write_text('{}')
    with pytest.raises(ValueError, match='left alone'):
        demo_tool.claim_work_dir(str(other), restart=True)
    assert os.listdir(other) == [demo_tool.MARKER]


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
@pytest.mark.parametrize('meta', [None, 'users', 'other generator'])
def test_generators_leave_a_folder_of_other_data(data_folder, capsys, tool,
                                                 force, meta):
    """Not theirs: a folder of other data; a user's dataset whose own
    meta.json has a format_version; the other generator's dataset."""
    if meta == 'users':
        (data_folder / 'meta.json').write_text(json.dumps(dict(
            format_version=2, name='my labelled photos', num_train=4000)))
    elif meta == 'other generator':
        other = make_shapes_seg if tool is make_shapes else make_shapes
        (data_folder / 'meta.json').write_text(json.dumps(dict(
            generator=other.GENERATOR, format_version=1)))
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
    assert sum(len(f) for _, _, f in os.walk(out)) == 8 + 1  # meta.json
    # A dataset of the same layout that it did not write is not its own.
    (out / 'meta.json').unlink()
    before = snapshot(str(out))
    code = make_digits.main(['--out', str(out), '--limit', '5', '--force'])
    _refused(code, capsys, str(out), 'left alone')
    assert snapshot(str(out)) == before


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


def _entries(folder) -> list:
    """``folder``'s entries but the markers of our temporary ones."""
    from mmlcnetv2.utils.atomic import MARKER_SUFFIX
    return sorted(n for n in os.listdir(folder)
                  if not n.endswith(MARKER_SUFFIX))


def _dead_pid() -> int:
    """The PID of a process that has ended (what a leftover's name says
    of a killed run, or of a writer in another PID namespace)."""
    done = subprocess.run([PYTHON, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _look_alikes(folder, dead: int) -> list:
    """A user's backup folder of photos and a photo in ``folder`` whose
    names fit our temporary names, with the PID of no running process."""
    backup = folder / f'.photos.old-{dead}-20190807'
    backup.mkdir(parents=True)
    for i in range(5):
        (backup / f'IMG_{i:04d}.jpg').write_bytes(b'\xff\xd8 photo %d' % i)
    rocket = f'.rocket.old-{dead}-original.jpg'
    (folder / rocket).write_bytes(b'\xff\xd8 me')
    notes = f'.notes.tmp-{dead}-abcdefgh'
    (folder / notes).write_text('mine')
    return sorted([backup.name, rocket, notes])


def test_killed_picture_is_hidden_and_cleaned_by_the_next_run(
        tiny, photos, tmp_path, capsys):
    out = tmp_path / 'vis'
    out.mkdir()
    _killed_write('file', out / 'china.jpg')
    left = _entries(out)
    assert len(left) == 1 and left[0].startswith('.china.jpg.tmp-'), left
    # Not ours: a user's files of similar names, a live process's.
    users = ['tmpabcdefgh.jpg', '.china.jpg.tmp-x', 'notes.tmp-1-abc',
             f'.flower.jpg.tmp-{os.getppid()}-abcdefgh.jpg']
    for name in users:
        (out / name).write_bytes(b'mine')
    users += _look_alikes(out, _dead_pid())
    code = infer_tool.main([tiny['ir'], str(photos), '--out-dir', str(out)])
    assert code == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == sorted(
        ['china.jpg', 'flower.jpg', '.mmlcnetv2-outputs.json'] + users)
    assert all((out / n).read_bytes() == b'mine' for n in users[:4])


@pytest.mark.parametrize('tool', ['deploy', 'infer --out-json'])
def test_look_alike_names_of_the_user_are_not_leftovers(tiny, photos,
                                                        tmp_path, capsys,
                                                        tool):
    """A backup folder of photos and a photo beside the output, named like
    our leftovers with a PID that is not running, stay as they were."""
    from mmlcnetv2.commands import deploy as deploy_tool
    home = tmp_path / 'home'
    names = _look_alikes(home, _dead_pid())
    before = snapshot(str(home))
    if tool == 'deploy':
        code = deploy_tool.main([tiny['config'], tiny['checkpoint'],
                                 '--out', str(home / 'deploy_cls')])
    else:
        code = infer_tool.main([tiny['ir'], str(photos), '--out-dir',
                                str(tmp_path / 'vis'), '--out-json',
                                str(home / 'results.jsonl')])
    assert code == 0, capsys.readouterr().err
    assert sorted(set(os.listdir(home)) - {'deploy_cls', 'results.jsonl'}) \
        == names
    assert {k: v for k, v in snapshot(str(home)).items()
            if k in before} == before


def test_a_look_alike_image_is_read(tmp_path):
    """infer.py skips our pictures being written, told by their markers,
    not a user's photo whose name looks like one."""
    folder = tmp_path / 'imgs'
    names = _look_alikes(folder, _dead_pid())
    files = infer_tool.collect_images([str(folder)])
    assert [osp.basename(f) for f, _ in files] == [names[2]] + [
        f'IMG_{i:04d}.jpg' for i in range(5)]


WRITER = """
import os, sys
if os.environ.get('AS_PID'):  # a PID of no process here
    os.getpid = lambda: int(os.environ['AS_PID'])
host = {int(p) for p in os.environ.get('HOST_PIDS', '').split()}
while os.getpid() in host:  # unshare: a PID no process has out there
    child = os.fork()
    if child:
        os._exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
from mmlcnetv2.utils.atomic import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    open(os.path.join(tmp, 'model.xml'), 'w').write('<net/>')
    print(os.path.basename(tmp), flush=True)
    sys.stdin.readline()  # until the test says
"""


def _host_pids() -> str:
    return ' '.join(p for p in os.listdir('/proc') if p.isdigit())


@pytest.mark.parametrize('namespace', ['unshare', 'foreign-pid'])
def test_live_writer_in_another_pid_namespace_keeps_its_temp(
        tiny, photos, tmp_path, capsys, namespace):
    """Another container on the same volume writes an export into a new
    folder; its PID means nothing here, but its lock on the temporary
    folder's marker is seen, and a run here cleaning the folder leaves
    the temporary folder alone."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [PYTHON, '-c', WRITER, str(tmp_path / 'IR')]
    if namespace == 'unshare':
        if subprocess.run(['unshare', '--pid', '--fork', 'true'],
                          capture_output=True).returncode != 0:
            pytest.skip('unshare --pid is not permitted here')
        cmd = ['unshare', '--pid', '--fork'] + cmd
        env['HOST_PIDS'] = _host_pids()
    else:
        env['AS_PID'] = str(_dead_pid())
    writer = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        temp = writer.stdout.readline().strip()
        assert temp.startswith('.IR.tmp-'), temp
        code = infer_tool.main([tiny['ir'], str(photos), '--out-dir',
                                str(tmp_path / 'vis'), '--out-json',
                                str(tmp_path / 'results.jsonl')])
        assert code == 0, capsys.readouterr().err
        assert (tmp_path / temp / 'model.xml').read_text() == '<net/>'
        writer.stdin.write('go\n')
        writer.stdin.flush()
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
    assert (tmp_path / 'IR' / 'model.xml').read_text() == '<net/>'
    assert sorted(os.listdir(tmp_path)) == ['IR', 'imgs', 'results.jsonl',
                                            'vis']


def test_killed_dataset_write_is_cleaned_and_old_data_kept(tmp_path,
                                                           capsys):
    out = tmp_path / 'shapes'
    args = ['--out', str(out), '--num-train', '1', '--num-val', '1',
            '--img-size', '64']
    _killed_write('dir', out)  # a first run, killed
    assert [n.startswith('.shapes.tmp-') for n in _entries(tmp_path)] \
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
    from mmlcnetv2.commands import deploy as deploy_tool
    out = tmp_path / 'IR'
    out.mkdir()
    _killed_write('update', out)
    assert [n.startswith('.update.tmp-') for n in _entries(out)] == [True]
    assert deploy_tool.main([tiny['config'], tiny['checkpoint'], '--out',
                             str(out)]) == 0
    owned = json.loads((out / 'deploy.json').read_text())['files']
    assert 'model_api.xml' in owned  # the default form writes it too
    assert sorted(os.listdir(out)) == sorted(owned)  # and no leftover


KILLED_REPLACE = """
import os, signal, sys
from mmlcnetv2.utils.atomic import atomic_dir
rename = os.rename
def killed_before_the_new_one_is_in(src, dst):
    if os.path.basename(src).startswith('.shapes.tmp-'):
        os.kill(os.getpid(), signal.SIGKILL)
    rename(src, dst)
os.rename = killed_before_the_new_one_is_in
with atomic_dir(sys.argv[1]) as tmp:
    open(os.path.join(tmp, 'meta.json'), 'w').write('new')
"""


def test_folder_set_aside_by_a_killed_replace_is_put_back(tmp_path):
    """Killed between moving the old folder aside and the new one in: the
    old one is the only copy, and the next run restores it."""
    from mmlcnetv2.utils.atomic import clean_leftovers
    (tmp_path / 'shapes').mkdir()
    (tmp_path / 'shapes' / 'meta.json').write_text('old')
    done = subprocess.run([PYTHON, '-c', KILLED_REPLACE,
                           str(tmp_path / 'shapes')],
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == -signal.SIGKILL
    assert [n[:12] for n in _entries(tmp_path)] == ['.shapes.old-',
                                                    '.shapes.tmp-']
    assert len(clean_leftovers(str(tmp_path))) == 2
    assert os.listdir(tmp_path) == ['shapes']
    assert (tmp_path / 'shapes' / 'meta.json').read_text() == 'old'


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
    codes = [code for code, _ in results]
    # Started together, the two usually overlap: the one that moves its
    # files in second finds the folder taken and refuses. But imports take
    # seconds and a tiny export well under one, so one run may also check
    # the folder after the other has finished: it then replaces an export
    # (its own kind, which it may), and both succeed. Either way the folder
    # holds one whole export and nothing else is left behind.
    assert codes in ([0, 2], [0, 0]), results
    if codes == [0, 2]:
        line = [ln for ln in results[1][1].splitlines()
                if ln.startswith('error:')]
        assert len(line) == 1 and str(out) in line[0], results[1][1]
        assert 'Traceback' not in results[1][1]
    from mmlcnetv2.deploy import OpenVINOInferencer
    OpenVINOInferencer(str(out))  # a whole export
    assert sorted(os.listdir(tmp_path)) == ['IR']
