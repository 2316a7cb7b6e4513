"""``tools/infer.py`` on folders: bad images skipped, no name collisions,
a summary, per-image results on the console and as JSON lines."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from test_deploy_cls import static_ir, tiny  # noqa: F401  (fixtures)
from test_deploy_seg import seg  # noqa: F401  (fixture)
from mmlcnetv2.commands import infer as infer_tool

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


# ------------------------------------------- files that are not plain images
def huge_png(path, width: int, height: int) -> None:
    """A valid all-black 1-bit PNG of ``width`` x ``height``: 30000x30000
    is ~110 KB on disk, 2.7 GB decoded to BGR."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack('>I', len(data)) + kind + data + struct.pack(
            '>I', zlib.crc32(kind + data) & 0xffffffff))

    row = b'\0' * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    body = b''.join(packer.compress(row * 1000)
                    for _ in range(height // 1000))
    body += packer.compress(row * (height % 1000)) + packer.flush()
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(
            b'IHDR', struct.pack('>IIBBBBB', width, height, 1, 0, 0, 0, 0))
            + chunk(b'IDAT', body) + chunk(b'IEND', b''))


def _skipped(err: str) -> dict:
    """``file name -> its 'skipped' line``."""
    return {osp.basename(ln.split(': ')[0].split(' ', 1)[1]): ln
            for ln in err.splitlines() if ln.startswith('skipped ')}


def test_huge_png_refused_from_its_header(tmp_path):
    """30000x30000 in a ~110 KB PNG took 6.3 GB and 36 s to decode; the
    header says so, the default limit (Pillow's ~179 M pixels) refuses it
    before decoding, naming the size and the limit."""
    from mmlcnetv2.deploy.preprocess.image_file import ImageTooLargeError
    from mmlcnetv2.deploy.preprocess.host import load_image
    path = tmp_path / 'bomb.png'
    huge_png(path, 30000, 30000)
    assert osp.getsize(path) < 200_000
    with pytest.raises(ImageTooLargeError) as info:
        load_image(str(path))
    msg = str(info.value)
    assert 'bomb.png' in msg and '30000x30000 = 900,000,000 pixels' in msg
    assert 'over the limit of 178,956,970 pixels' in msg
    assert 'MMLCNETV2_MAX_IMAGE_PIXELS' in msg


def test_pixel_limit_skips_in_a_folder_run(static_ir, tmp_path, capsys,
                                           monkeypatch):
    """MMLCNETV2_MAX_IMAGE_PIXELS: an image over it is skipped with one line
    naming its size and the limit; the others are processed."""
    rng = np.random.default_rng(3)
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'small.png'), _photo(rng, 60, 80))
    cv2.imwrite(str(images / 'large.jpg'), _photo(rng, 120, 100))
    monkeypatch.setenv('MMLCNETV2_MAX_IMAGE_PIXELS', '10000')
    code = infer_tool.main([static_ir, str(images), '--out-dir',
                            str(tmp_path / 'vis')])
    captured = capsys.readouterr()
    assert code == 2
    skipped = _skipped(captured.err)
    assert list(skipped) == ['large.jpg'], captured.err
    assert '100x120 = 12,000 pixels, over the limit of 10,000 pixels' in \
        skipped['large.jpg']
    assert 'wrote 1 pictures' in captured.out
    monkeypatch.setenv('MMLCNETV2_MAX_IMAGE_PIXELS', 'lots')
    assert infer_tool.main([static_ir, str(images)]) == 2
    assert "MMLCNETV2_MAX_IMAGE_PIXELS='lots': must be a positive" in \
        capsys.readouterr().err


def test_parallel_decodes_stay_within_the_pixel_budget():
    """Threads decoding at once hold at most the limit in pixels together
    (one image alone always goes): 4 threads x 60 pixels under a limit of
    100 run one at a time, 40-pixel ones two at a time."""
    import threading
    import time
    from mmlcnetv2.deploy.preprocess.image_file import PixelBudget
    budget = PixelBudget(lambda: 100)
    lock = threading.Lock()
    held, peak = [0], [0]

    def decode(pixels):
        with budget.reserve(pixels):
            with lock:
                held[0] += pixels
                peak[0] = max(peak[0], held[0])
            time.sleep(0.05)
            with lock:
                held[0] -= pixels

    for sizes, most in (([60] * 4, 60), ([40] * 4, 80), ([150, 10], 150)):
        held[0] = peak[0] = 0
        threads = [threading.Thread(target=decode, args=(n, ))
                   for n in sizes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
        assert peak[0] == most, (sizes, peak[0])


def test_empty_truncated_and_fifo_images_named(static_ir, tmp_path, capsys):
    """A 0-byte .jpg (was an OpenCV assertion), a JPEG and a PNG cut in
    half (the JPEG was decoded with grey rows and classified), and a FIFO
    named x.jpg (was "not found"; opening it would block): each skipped
    with a line that says what it is."""
    rng = np.random.default_rng(4)
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'good.jpg'), _photo(rng, 64, 64))
    for name in ('cut.jpg', 'cut.png'):
        ok, data = cv2.imencode(osp.splitext(name)[1], _photo(rng, 96, 96))
        (images / name).write_bytes(data.tobytes()[:len(data) // 2])
    (images / 'empty.jpg').write_bytes(b'')
    os.mkfifo(images / 'pipe.jpg')
    code = infer_tool.main([static_ir, str(images), '--out-dir',
                            str(tmp_path / 'vis')])
    captured = capsys.readouterr()
    assert code == 2
    skipped = _skipped(captured.err)
    assert sorted(skipped) == ['cut.jpg', 'cut.png', 'empty.jpg',
                               'pipe.jpg'], captured.err
    assert 'is empty (0 bytes)' in skipped['empty.jpg']
    assert 'is a FIFO (named pipe), not an image file' in \
        skipped['pipe.jpg']
    for name in ('cut.jpg', 'cut.png'):
        assert 'the file is truncated' in skipped[name], skipped[name]
    assert 'wrote 1 pictures' in captured.out
    # Named on the command line, the FIFO is that too, not "not found".
    assert infer_tool.main([static_ir, str(images / 'pipe.jpg'),
                            '--out-dir', str(tmp_path / 'vis')]) == 2
    assert 'is a FIFO (named pipe)' in capsys.readouterr().err


def test_disk_full_out_json_one_line(static_ir, folder, tmp_path, capsys):
    """--out-json on a full disk ended in an OSError [Errno 28] traceback:
    one line naming the file, exit 2, nothing left on that disk."""
    from helpers import full_disk
    with full_disk(str(tmp_path / 'disk')) as disk:
        jsonl = osp.join(disk, 'results.jsonl')
        capsys.readouterr()
        code = infer_tool.main([static_ir, str(folder / 'a'), '--out-dir',
                                str(tmp_path / 'vis'), '--out-json', jsonl])
        err = capsys.readouterr().err.strip()
        left = sorted(os.listdir(disk))
    assert code == 2
    assert err.splitlines()[-1].startswith(
        f'error: cannot write {jsonl}: no space left on device'), err
    assert 'Traceback' not in err
    assert left == ['filler']
