"""``tools/infer.py`` on folders: bad images skipped, no name collisions,
a summary, per-image results on the console and as JSON lines."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from test_deploy_cls import static_ir, tiny  # noqa: F401  (fixtures)
from test_deploy_seg import seg  # noqa: F401  (fixture)
from tools import infer as infer_tool

pytest.importorskip('openvino')


def _photo(rng, h, w):
    small = rng.integers(0, 256, (max(h // 8, 2), max(w // 8, 2), 3),
                         dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def folder(tmp_path):
    """a/img.jpg, a/img.png, b/img.jpg (same stem), a degenerate 2000x3
    image and a file that is not an image."""
    rng = np.random.default_rng(0)
    root = tmp_path / 'images'
    (root / 'a').mkdir(parents=True)
    (root / 'b').mkdir()
    for rel, (h, w) in {'a/img.jpg': (60, 80), 'a/img.png': (70, 50),
                        'b/img.jpg': (64, 64), 'b/thin.png': (2000, 3)
                        }.items():
        cv2.imwrite(str(root / rel), _photo(rng, h, w))
    (root / 'b' / 'broken.jpg').write_bytes(b'not a jpeg')
    return root


def test_folder_bad_images_skipped_outputs_keep_paths(static_ir, folder,
                                                      tmp_path, capsys):
    out = tmp_path / 'vis'
    jsonl = tmp_path / 'results.jsonl'
    code = infer_tool.main([static_ir, str(folder), '--out-dir', str(out),
                            '--out-json', str(jsonl)])
    captured = capsys.readouterr()
    assert code == 2  # an image was skipped
    # one line per bad image, naming it and why
    skipped = [ln for ln in captured.err.splitlines()
               if ln.startswith('skipped ')]
    assert len(skipped) == 1, captured.err
    assert 'broken.jpg' in skipped[0] and 'decode' in skipped[0]
    # every good image has its own picture, relative path and extension
    # (2000x3 is fine here: resize of the short edge, then a centre crop)
    for rel in ('a/img.jpg', 'a/img.png', 'b/img.jpg', 'b/thin.png'):
        assert cv2.imread(str(out / rel)) is not None, rel
    assert not (out / 'b' / 'broken.jpg').exists()
    assert 'wrote 4 pictures' in captured.out and 'skipped 1' in \
        captured.out
    # per-image top-5 on the console for a folder
    for rel in ('a/img.jpg', 'a/img.png', 'b/img.jpg'):
        line = [ln for ln in captured.out.splitlines()
                if ln.startswith(rel + ': ')]
        assert len(line) == 1 and line[0].count(' 0.') == 3, captured.out
    records = [json.loads(ln) for ln in jsonl.read_text().splitlines()]
    assert len(records) == 5
    by_image = {osp.relpath(r['image'], folder): r for r in records}
    assert by_image['b/broken.jpg']['output'] is None
    assert 'decode' in by_image['b/broken.jpg']['error']
    good = by_image['a/img.png']
    assert good['task'] == 'classification'
    assert len(good['top5']) == 3  # 3 classes
    assert good['top5'][0]['score'] == pytest.approx(good['score'])
    assert osp.samefile(good['output'], out / 'a' / 'img.png')
    # the JSON's scores are the inferencer's
    from mmlcnetv2.deploy import OpenVINOInferencer
    ref = OpenVINOInferencer(static_ir)(str(folder / 'a' / 'img.png'))
    assert good['label'] == ref['label']
    assert good['score'] == pytest.approx(ref['score'], rel=1e-5)


def test_same_stem_in_one_folder_and_single_image(static_ir, folder,
                                                  tmp_path, capsys):
    out = tmp_path / 'vis'
    code = infer_tool.main([static_ir, str(folder / 'a'), '--out-dir',
                            str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        '.mmlcnetv2-outputs.json', 'img.jpg', 'img.png']  # + its list
    assert 'wrote 2 pictures' in capsys.readouterr().out
    # a single image keeps its multi-line top-5
    code = infer_tool.main([static_ir, str(folder / 'b' / 'img.jpg'),
                            '--out-dir', str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len([ln for ln in lines if '\t' in ln]) == 3


def test_degenerate_image_skipped_segmentation_json(seg, folder, tmp_path,
                                                    capsys):
    """Keep-ratio resize of 2000x3 to fit 96x96: 0 pixels wide, a cv2
    assertion that used to end the run."""
    out = tmp_path / 'vis'
    jsonl = tmp_path / 'seg.jsonl'
    code = infer_tool.main([seg['dynamic'], str(folder), '--out-dir',
                            str(out), '--out-json', str(jsonl)])
    captured = capsys.readouterr()
    assert code == 2
    skipped = [ln for ln in captured.err.splitlines()
               if ln.startswith('skipped ')]
    assert len(skipped) == 2, captured.err
    assert any('thin.png' in ln and '2000x3' in ln for ln in skipped)
    assert 'wrote 3 pictures' in captured.out and 'skipped 2' in \
        captured.out
    for rel in ('a/img.jpg', 'a/img.png', 'b/img.jpg'):
        assert cv2.imread(str(out / rel)) is not None, rel
    records = {osp.relpath(r['image'], folder): r for r in map(
        json.loads, jsonl.read_text().splitlines())}
    assert '2000x3' in records['b/thin.png']['error']
    assert records['a/img.jpg']['shape'] == [60, 80]
    assert sum(records['a/img.jpg']['class_pixels'].values()) == 60 * 80
    assert set(records['a/img.jpg']['class_pixels']) <= {'bg', 'a', 'b',
                                                         'c'}
    assert 'a/img.jpg: 60x80: ' in captured.out


def test_folder_at_throughput_same_results_in_order(static_ir, tmp_path,
                                                    capsys):
    """More photos than infer requests, a broken one among them: the lines,
    the JSON records and the pictures are in input order and equal to the
    one-by-one inferencer's; the images/s is reported."""
    from photos import photo_files
    from mmlcnetv2.deploy import OpenVINOInferencer
    photos = photo_files(tmp_path)
    root = tmp_path / 'many'
    root.mkdir()
    names = []
    for i in range(12):
        src = list(photos.values())[i % len(photos)]
        names.append(f'{i:02d}.png')
        (root / names[-1]).write_bytes(open(src, 'rb').read())
    (root / '05b.jpg').write_bytes(b'not a jpeg')
    order = sorted(names + ['05b.jpg'])
    out, jsonl = tmp_path / 'vis', tmp_path / 'r.jsonl'
    code = infer_tool.main([static_ir, str(root), '--out-dir', str(out),
                            '--out-json', str(jsonl)])
    captured = capsys.readouterr()
    assert code == 2
    assert [ln.split(': ')[0] for ln in captured.out.splitlines()
            if '.png: ' in ln] == names
    assert ['skipped' in ln for ln in captured.err.splitlines()].count(
        True) == 1 and '05b.jpg' in captured.err
    assert '13 images in ' in captured.out and ' images/s' in captured.out
    records = [json.loads(ln) for ln in jsonl.read_text().splitlines()]
    assert [osp.basename(r['image']) for r in records] == order
    ref = OpenVINOInferencer(static_ir)
    for record in records:
        if record['output'] is None:
            assert osp.basename(record['image']) == '05b.jpg'
            continue
        want = ref(record['image'])
        assert record['label'] == want['label']
        assert record['score'] == float(want['score'])
        assert cv2.imread(record['output']) is not None


def test_image_larger_than_a_static_input_without_resize(tiny, tmp_path,
                                                         capsys):
    """A test pipeline without a resize (the digits config's) exported at a
    fixed size: a larger image is skipped with one line naming its size and
    the input's (it used to end the run with numpy's broadcasting error);
    one that fits is classified."""
    from mmlcnetv2.deploy import export
    cfg = tmp_path / 'no_resize.py'
    cfg.write_text(f"_base_ = {tiny['config']!r}\n"
                   "test_pipeline = [dict(type='LoadImageFromFile'), "
                   "dict(type='PackInputs')]\n"
                   "test_dataloader = dict(dataset=dict("
                   "pipeline=test_pipeline))\n")
    ir = tmp_path / 'ir'
    export(str(cfg), tiny['checkpoint'], str(ir), shape=(32, 32))
    rng = np.random.default_rng(1)
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'big.png'), _photo(rng, 60, 80))
    cv2.imwrite(str(images / 'fits.png'), _photo(rng, 32, 32))
    code = infer_tool.main([str(ir), str(images), '--out-dir',
                            str(tmp_path / 'vis')])
    captured = capsys.readouterr()
    assert code == 2
    skipped = [ln for ln in captured.err.splitlines()
               if ln.startswith('skipped ')]
    assert len(skipped) == 1, captured.err
    assert 'big.png' in skipped[0] and '60x80' in skipped[0] and \
        '32x32' in skipped[0], skipped[0]
    assert 'wrote 1 pictures' in captured.out or 'wrote 1 picture' in \
        captured.out, captured.out
