# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""What an image file is before it is decoded: the checks that keep a
decode's memory bounded and name what is wrong with a file.

A 109 KB PNG can say 30000x30000 pixels in its header; decoding it took
6.3 GB and 36 s. :func:`check_image_file` reads only the header (PIL's
``Image.open`` parses it and decodes nothing) and refuses an image over
:func:`max_pixels` (``MMLCNETV2_MAX_IMAGE_PIXELS``; by default Pillow's own
decompression-bomb error threshold, ~179 M pixels), naming its size and the
limit. A FIFO, a device, a folder and an empty file are named as such
(a FIFO would block the decoder forever).

:data:`DECODES` bounds the decodes running at once by their pixels
(at most :func:`max_pixels` in all, one image always), so that a folder
decoded by several threads needs no more memory than one image at the
limit, whatever the number of threads.

A decode that fails is explained by :func:`decode_failure` (a truncated
file is named as one).
"""
import os
import stat
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import numpy as np

#: Environment variable: the most pixels (width x height) an image may have.
MAX_PIXELS_ENV = 'MMLCNETV2_MAX_IMAGE_PIXELS'


def default_max_pixels() -> int:
    """Pillow's ``DecompressionBombError`` threshold (2x
    ``Image.MAX_IMAGE_PIXELS``, 178,956,970 pixels in Pillow 13)."""
    from PIL import Image
    return 2 * int(Image.MAX_IMAGE_PIXELS or 89478485)


def max_pixels() -> int:
    """The pixel limit: :data:`MAX_PIXELS_ENV`, else
    :func:`default_max_pixels`.

    Raises:
        ValueError: The variable is not a positive integer.
    """
    text = os.environ.get(MAX_PIXELS_ENV, '').strip()
    if not text:
        return default_max_pixels()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f'{MAX_PIXELS_ENV}={text!r}: must be a positive '
                         'number of pixels (width x height)')
    return value


class ImageTooLargeError(ValueError):
    """An image whose header says more pixels than :func:`max_pixels`."""


def _kind(mode: int) -> Optional[str]:
    """What a file that is not a regular file is, for the message."""
    for test, name in ((stat.S_ISFIFO, 'a FIFO (named pipe)'),
                       (stat.S_ISDIR, 'a folder'),
                       (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else 'not a regular file'


def header_size(path: str) -> Optional[Tuple[int, int]]:
    """``(w, h)`` from the header of ``path``, None if PIL does not know
    the format (the decoder then says what it makes of the file)."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            # Header only: nothing is decoded, the limit is ours.
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except Image.DecompressionBombError:
        return _bomb_size(path)
    except Exception:  # noqa: BLE001  (PIL raises anything on bad headers)
        return None


def _bomb_size(path: str) -> Optional[Tuple[int, int]]:
    """``(w, h)`` of an image ``Image.open`` refuses as a decompression
    bomb (over 2x ``Image.MAX_IMAGE_PIXELS``, its message gives only the
    pixel count): the format plugin reads the header as ``Image.open``
    does, without that check (changing the global limit instead would
    lift it for every thread of the process)."""
    import struct

    from PIL import Image
    Image.init()
    with open(path, 'rb') as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            found = not accept or accept(prefix)
            if not found or isinstance(found, str):
                continue
            fp.seek(0)
            try:
                return factory(fp, path).size
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
    return None


def check_image_file(path: str) -> Optional[Tuple[int, int]]:
    """Check ``path`` before decoding it; its ``(w, h)`` if PIL reads it.

    Raises:
        FileNotFoundError: No such file.
        ValueError: A FIFO, folder or device, an empty file.
        ImageTooLargeError: More pixels than :func:`max_pixels`, naming
            the size and the limit.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f'Image not found: {path!r}') from None
    kind = _kind(mode)
    if kind is not None:
        raise ValueError(f'{path!r} is {kind}, not an image file')
    if os.path.getsize(path) == 0:
        raise ValueError(f'{path!r} is empty (0 bytes), not an image')
    size = header_size(path)
    limit = max_pixels()
    if size is not None and size[0] * size[1] > limit:
        raise ImageTooLargeError(
            f'{path!r} is {size[0]}x{size[1]} = {size[0] * size[1]:,} '
            f'pixels, over the limit of {limit:,} pixels (set '
            f'{MAX_PIXELS_ENV} to allow more); not decoded')
    return size


def decode_failure(path: str) -> str:
    """Why a decoder could not read ``path``: ``'is truncated'`` where
    PIL's full decode finds the data cut short, else a generic reason."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format
                im.load()
    except Exception as e:  # noqa: BLE001  (PIL raises anything)
        if 'truncated' in str(e) or isinstance(e, EOFError):
            return (f'the file is truncated (its {os.path.getsize(path):,} '
                    'bytes end inside the image data)')
        return ('not an image file OpenCV can read (jpg, png, bmp, webp, '
                'tiff, ...)')
    return f'a {fmt} file OpenCV cannot decode'


def is_truncated_jpeg(path: str) -> bool:
    """Whether a JPEG's data end before its end-of-image marker.

    libjpeg decodes a cut-short JPEG with a warning and grey rows, so its
    result says nothing; a file whose last bytes (trailing zeros aside)
    are not the marker is checked by PIL's decode at 1/8 scale (cheap),
    which raises for cut-short data and reads a file with a trailer (some
    phones append data after the marker) fine.
    """
    with open(path, 'rb') as f:
        if f.read(3) != b'\xff\xd8\xff':
            return False
        f.seek(max(os.path.getsize(path) - 4096, 0))
        if f.read().rstrip(b'\x00\r\n ').endswith(b'\xff\xd9'):
            return False
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.draft('RGB', (max(im.size[0] // 8, 1),
                             max(im.size[1] // 8, 1)))
            im.load()
    except Exception:  # noqa: BLE001  (PIL raises anything)
        return True
    return False


class PixelBudget:
    """At most ``limit()`` pixels being decoded at once across threads; an
    image larger than what is free waits (one alone always goes)."""

    def __init__(self, limit=max_pixels) -> None:
        self._limit = limit
        self._used = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int) -> Iterator[None]:
        """Hold ``pixels`` of the budget for the ``with`` block."""
        limit = self._limit()
        with self._cond:
            self._cond.wait_for(
                lambda: self._used == 0 or self._used + pixels <= limit)
            self._used += pixels
        try:
            yield
        finally:
            with self._cond:
                self._used -= pixels
                self._cond.notify_all()


#: The decodes of this process (``load_image``, the reduced JPEG decode).
DECODES = PixelBudget()


def decode_file(path: str) -> np.ndarray:
    """Decode ``path`` as BGR after :func:`check_image_file`, within the
    process's pixel budget of decodes."""
    import mmcv  # the image I/O the OpenMMLab pipelines use
    size = check_image_file(path)
    with DECODES.reserve(size[0] * size[1] if size else 1):
        try:
            img = mmcv.imread(path, flag='color', channel_order='bgr')
        except Exception as e:  # noqa: BLE001  (cv2/pillow raise anything)
            raise ValueError(f'Cannot decode image {path!r}: {e}') from e
    if img is None:
        raise ValueError(f'Cannot decode image {path!r}: '
                         f'{decode_failure(path)}')
    if is_truncated_jpeg(path):
        raise ValueError(f'Cannot decode image {path!r}: '
                         f'{decode_failure(path)}')
    return img
