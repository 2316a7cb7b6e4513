"""Real photos at odd sizes for the end-to-end deploy parity tests.

scikit-learn ships two 427x640 photos (``china.jpg``, ``flower.jpg``); the
crops give other aspect ratios whose keep-ratio resize is not a multiple of
32, and one square crop whose padded shape equals a square static export.
"""
from pathlib import Path
from typing import Dict

import cv2

# name -> (photo, y0, y1, x0, x1); None: the whole photo.
CROPS = {
    'china': ('china.jpg', None),            # 427x640 -> 64x96 at 96
    'china_300x500': ('china.jpg', (37, 337, 11, 511)),   # -> 58x96
    'flower_251x333': ('flower.jpg', (90, 341, 150, 483)),  # -> 72x96
    'flower_square': ('flower.jpg', (60, 360, 170, 470)),   # -> 96x96
}


def photo_files(root: Path) -> Dict[str, str]:
    """Write the photos and crops as PNG files under ``root``; their paths.

    PNG so that every reader (mmcv in the inferencers, OpenCV here) gets
    the same pixels.
    """
    from sklearn.datasets import load_sample_image
    paths = {}
    for name, (photo, box) in CROPS.items():
        img = load_sample_image(photo)[:, :, ::-1]  # RGB -> BGR
        if box is not None:
            y0, y1, x0, x1 = box
            img = img[y0:y1, x0:x1]
        path = root / f'{name}.png'
        if not path.exists():
            cv2.imwrite(str(path), img)
        paths[name] = str(path)
    return paths
