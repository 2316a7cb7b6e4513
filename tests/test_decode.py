"""Reduced-size JPEG decoding (mmlcnetv2/deploy/preprocess/jpeg.py): the factor
choice, the mapping back to original coordinates, and the files it must
leave to the full decode (PNGs, small JPEGs, corrupt files)."""
import cv2
import numpy as np
import pytest

from mmlcnetv2.deploy.preprocess.jpeg import (decode_for_steps, jpeg_size,
                                     reduction_factor, resize_size)
from mmlcnetv2.deploy.preprocess.host import apply_steps, load_image
from mmlcnetv2.deploy.preprocess.host import prepare_image

CLS_STEPS = [dict(op='resize_edge', scale=256, edge='short',
                  interpolation='bilinear'),
             dict(op='center_crop', crop_size=[224, 224])]
DET_STEPS = [dict(op='resize', scale=[320, 240], keep_ratio=True,
                  interpolation='bilinear')]
PRE = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
           color_order='RGB', pad_size_divisor=32, pad_value=0.0)


def _photo(w, h):
    """A sample photo resized to w x h (BGR), with some grain."""
    from sklearn.datasets import load_sample_image
    img = load_sample_image('china.jpg')[:, :, ::-1]
    big = cv2.resize(np.ascontiguousarray(img), (w, h),
                     interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).normal(0, 3, big.shape)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def jpeg_1600(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('decode') / 'photo_1600x1200.jpg')
    assert cv2.imwrite(path, _photo(1600, 1200),
                       [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


@pytest.mark.parametrize('step', [
    dict(op='resize_edge', scale=73, edge='short', interpolation='bilinear'),
    dict(op='resize_edge', scale=73, edge='long', interpolation='bilinear'),
    dict(op='resize_edge', scale=50, edge='width', interpolation='bilinear'),
    dict(op='resize_edge', scale=50, edge='height', interpolation='bilinear'),
    dict(op='resize', scale=[96, 64], keep_ratio=True,
         interpolation='bilinear'),
    dict(op='resize', scale=[96, 64], keep_ratio=False,
         interpolation='bilinear')])
@pytest.mark.parametrize('fit', [None, (48, 80)])
def test_resize_size_is_apply_steps_size(step, fit):
    """The size the reduced path resizes to is the one the full path gets."""
    for w, h in [(200, 150), (150, 200), (301, 97), (97, 301), (128, 128),
                 (333, 251)]:
        out, scale, _ = apply_steps(np.zeros((h, w, 3), np.uint8), [step],
                                    fit)
        assert resize_size((w, h), step, fit) == (out.shape[1],
                                                  out.shape[0]), (w, h)


@pytest.mark.parametrize('size,target,margin,factor', [
    ((4000, 3000), (341, 256), 2.0, 4),   # 1000x750 >= 682x512
    ((1600, 1200), (341, 256), 2.0, 2),   # 800x600; 400x300 < 682x512
    ((640, 427), (383, 256), 2.0, 1),     # sklearn's photo: full decode
    ((4000, 3000), (416, 416), 2.0, 2),   # 1000x750: 750 < 832
    ((8000, 6000), (416, 416), 2.0, 4),
    ((2047, 2047), (256, 256), 2.0, 4),   # ceil(2047 / 4) = 512 >= 512
    ((2040, 2040), (256, 256), 2.0, 2),   # 510 < 512
    ((4000, 3000), (341, 256), 1.0, 8),   # 500x375 >= 341x256
    ((4000, 3000), (341, 256), 4.0, 2),
])
def test_reduction_factor(size, target, margin, factor):
    assert reduction_factor(size, target, margin) == factor


def test_reduced_decode_maps_back_to_original(jpeg_1600):
    """A 1600x1200 JPEG, keep-ratio resize to 320x240: decoded at 1/2, with
    the full decode's img_shape, scale (boxes / scale land in original
    pixels) and ori_shape, and an input close to the full decode's."""
    assert jpeg_size(jpeg_1600) == (1600, 1200)
    dec = decode_for_steps(jpeg_1600, DET_STEPS)
    assert dec.factor == 2 and dec.ori_shape == (1200, 1600)
    assert dec.image.shape == (240, 320, 3) and dec.steps == []
    full_img = load_image(jpeg_1600)
    full = prepare_image(full_img, dict(PRE, steps=DET_STEPS))
    fast = prepare_image(dec.image, dict(PRE, steps=dec.steps))
    scale = tuple(a * b for a, b in zip(fast['scale'], dec.scale))
    assert scale == full['scale'] == (0.2, 0.2)
    assert fast['img_shape'] == full['img_shape'] == (240, 320)
    assert fast['input'].shape == full['input'].shape
    # A box over the whole resized image is the whole original image.
    box = np.array([0, 0, 320, 240], np.float64) / np.array(scale * 2)
    np.testing.assert_allclose(box, [0, 0, 1600, 1200])
    # Resize noise for comparison: the same full decode resized with 'area'.
    area_steps = [dict(DET_STEPS[0], interpolation='area')]
    area = prepare_image(full_img, dict(PRE, steps=area_steps))['input']
    diff = np.abs(fast['input'] - full['input']).mean()
    assert 0 < diff <= 1.5 * np.abs(area - full['input']).mean()


def test_static_fit_and_crop_steps(jpeg_1600):
    """Classifier steps (resize-short, crop) and a static fit: the crop still
    runs on the resized image and the scale is the full path's."""
    dec = decode_for_steps(jpeg_1600, CLS_STEPS)
    assert dec.factor == 2 and dec.steps == CLS_STEPS[1:]
    fast = prepare_image(dec.image, dict(PRE, steps=dec.steps), (224, 224))
    full = prepare_image(load_image(jpeg_1600), dict(PRE, steps=CLS_STEPS),
                   (224, 224))
    assert fast['input'].shape == full['input'].shape == (3, 224, 224)
    assert fast['offset'] == full['offset']
    scale = tuple(a * b for a, b in zip(fast['scale'], dec.scale))
    assert scale == full['scale']
    fit_dec = decode_for_steps(jpeg_1600, DET_STEPS, fit=(120, 100))
    fit_full = prepare_image(load_image(jpeg_1600), dict(PRE, steps=DET_STEPS),
                       (120, 100))
    assert fit_dec.factor == 8  # fit 100x75: 1/8 is 200x150, exactly 2x
    assert fit_dec.image.shape[:2] == fit_full['img_shape'] == (75, 100)


def test_exif_rotated_jpeg(tmp_path):
    """EXIF orientation 6: cv2 rotates full and reduced decodes alike, and
    ori_shape is the rotated image's."""
    from PIL import Image
    path = str(tmp_path / 'rotated.jpg')
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_photo(1600, 1200)[:, :, ::-1]).save(
        path, quality=90, exif=exif.tobytes())
    full = load_image(path)
    assert full.shape[:2] == (1600, 1200)  # cv2 applied the rotation
    dec = decode_for_steps(path, DET_STEPS)
    assert dec.factor == 2 and dec.ori_shape == (1600, 1200)
    ref = prepare_image(full, dict(PRE, steps=DET_STEPS))
    assert dec.image.shape[:2] == ref['img_shape']
    fast = prepare_image(dec.image, dict(PRE, steps=dec.steps))
    assert np.abs(fast['input'] - ref['input']).mean() < 0.05


def test_png_small_jpeg_and_crop_first_decode_full(tmp_path, jpeg_1600):
    png = str(tmp_path / 'large.png')
    cv2.imwrite(png, _photo(1600, 1200))
    small = str(tmp_path / 'small.jpg')
    cv2.imwrite(small, _photo(640, 427))
    crop_first = [dict(op='center_crop', crop_size=[224, 224])] + CLS_STEPS
    for path, steps in [(png, CLS_STEPS), (small, CLS_STEPS),
                        (jpeg_1600, crop_first), (jpeg_1600, [])]:
        dec = decode_for_steps(path, steps)
        assert dec.factor == 1 and dec.steps == steps
        assert dec.scale == (1.0, 1.0)
        np.testing.assert_array_equal(dec.image, load_image(path))
        assert dec.ori_shape == dec.image.shape[:2]
    assert jpeg_size(png) is None


def test_corrupt_and_missing_files_error_as_before(tmp_path, jpeg_1600):
    """Not a JPEG, a JPEG cut inside its header or inside its data: the full
    decode's one-line error (OpenCV 5 refuses a truncated JPEG at any
    scale), and a missing file's."""
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not an image at all')
    data = open(jpeg_1600, 'rb').read()
    header_cut = tmp_path / 'header_cut.jpg'
    header_cut.write_bytes(data[:40])
    data_cut = tmp_path / 'data_cut.jpg'
    data_cut.write_bytes(data[:len(data) // 2])
    assert jpeg_size(str(data_cut)) == (1600, 1200)  # its header is whole
    for path in (bad, header_cut, data_cut):
        with pytest.raises(ValueError, match='Cannot decode image') as e:
            decode_for_steps(str(path), CLS_STEPS)
        assert '\n' not in str(e.value) and str(path) in str(e.value)
    with pytest.raises(FileNotFoundError, match='Image not found'):
        decode_for_steps(str(tmp_path / 'missing.jpg'), CLS_STEPS)
