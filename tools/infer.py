#!/usr/bin/env python
"""Run an export of tools/deploy.py on images and draw the results.

    python tools/infer.py DIR IMAGE_OR_FOLDER... [--out-dir OUT]
        [--device CPU] [--precision-hint f32|bf16|f16] [--score-thr T]

Classification: the top-5 classes are printed and written on the image;
detection: boxes with class and score; segmentation: a colour overlay.
Pictures go to OUT (default: DIR/vis) under the input file names.
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[1:]))
    parser.add_argument('model_dir')
    parser.add_argument('inputs', nargs='+', help='images or folders')
    parser.add_argument('--out-dir', help='default: MODEL_DIR/vis')
    parser.add_argument('--device', default='CPU')
    parser.add_argument('--precision-hint', choices=['f32', 'bf16', 'f16'],
                        help="default: OpenVINO's choice (bf16 where the "
                        'CPU has it)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes at or above this score')
    return parser.parse_args(argv)


def collect_images(inputs):
    """Image files of the arguments; folders are listed (sorted, flat)."""
    files = []
    for item in inputs:
        if osp.isdir(item):
            files += sorted(
                osp.join(item, f) for f in os.listdir(item)
                if f.lower().endswith(IMAGE_EXTS))
        elif osp.isfile(item):
            files.append(item)
        else:
            raise FileNotFoundError(f'No such image or folder: {item!r}')
    if not files:
        raise FileNotFoundError(f'No images in {inputs}')
    return files


def _palette(n: int) -> np.ndarray:
    rng = np.random.default_rng(42)
    return rng.integers(40, 256, (max(n, 1), 3), dtype=np.uint8)


def draw(img: np.ndarray, result: dict, task: str, classes,
         score_thr: float) -> np.ndarray:
    """The result drawn on a copy of the BGR image."""
    img = img.copy()
    colors = _palette(len(classes))
    if task == 'classification':
        top = np.argsort(-result['scores'])[:5]
        for row, i in enumerate(top):
            text = f'{classes[i]}: {result["scores"][i]:.3f}'
            y = 18 + 18 * row
            cv2.putText(img, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(img, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA)
    elif task == 'detection':
        for box, score, label in zip(result['bboxes'], result['scores'],
                                     result['labels']):
            if score < score_thr:
                continue
            color = tuple(int(c) for c in colors[label])
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), color, 2)
            cv2.putText(img, f'{classes[label]} {score:.2f}',
                        (x1, max(y1 - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        color, 1, cv2.LINE_AA)
    else:
        seg = result['seg']
        color = colors[np.clip(seg, 0, len(colors) - 1)]
        img = cv2.addWeighted(img, 0.5, color, 0.5, 0)
    return img


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.utils import ProgressBar

    from mmlcnetv2.deploy import OpenVINOInferencer
    from mmlcnetv2.deploy.preprocess import load_image
    try:
        inferencer = OpenVINOInferencer(args.model_dir, args.device,
                                        args.precision_hint)
        files = collect_images(args.inputs)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2  # bad input: a missing or invalid export (deploy.json)
    out_dir = args.out_dir or osp.join(args.model_dir, 'vis')
    os.makedirs(out_dir, exist_ok=True)
    failed = 0
    bar = ProgressBar(len(files)) if len(files) > 1 else None
    for path in files:
        try:
            img = load_image(path)
            result = inferencer(img)
        except ValueError as e:
            print(f'\nskipped {path}: {e}', file=sys.stderr)
            failed += 1
            continue
        if inferencer.task == 'classification' and len(files) == 1:
            top = np.argsort(-result['scores'])[:5]
            print('\n'.join(f'{inferencer.classes[i]}\t'
                            f'{result["scores"][i]:.4f}' for i in top))
        vis = draw(img, result, inferencer.task, inferencer.classes,
                   args.score_thr)
        name = osp.splitext(osp.basename(path))[0] + '.png'
        cv2.imwrite(osp.join(out_dir, name), vis)
        if bar is not None:
            bar.update()
    print(f'\nwrote {len(files) - failed} pictures to {out_dir}' +
          (f' ({failed} skipped)' if failed else ''))
    return 1 if failed == len(files) else 0


if __name__ == '__main__':
    sys.exit(main())
