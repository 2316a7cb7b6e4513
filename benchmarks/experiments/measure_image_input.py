#!/usr/bin/env python
"""How far ``--input image`` moves detections from the default export.

    python benchmarks/experiments/measure_image_input.py CONFIG CHECKPOINT
        --work-dir DIR [--score-thr 0.3] [--out JSON] [--report MD]

Exports DIR/default (the host resizes with cv2, as mmdet) and DIR/image
(``--input image``: the graph resizes) with tools/deploy.py's ``export``
(DIR must be new, empty or hold earlier exports of this tool) and runs both
through ``OpenVINOInferencer`` at the f32 hint on real photos of several
sizes: scikit-learn's two 427x640 photos, crops of them (300x500,
251x333, 300x300) and rescales (0.3x, 0.5x, 1.5x, 2.5x, cv2 area/cubic).

Every detection scoring at least ``--score-thr`` in one export is matched
one to one with the other export's detections (any score above the
config's threshold; same class, IoU >= 0.5, best score first:
``det_matching.match_detections``). Per matched pair: the largest shift
of a box corner in original pixels (and in network-input pixels) and the
score difference; a detection without a partner has appeared or
vanished. Prints a line per photo and the max and median over all pairs;
``--out`` writes the pairs as JSON, ``--report`` a Markdown page with this
command and the CPU (docs/deploy.md, "Input forms").
"""
import json
import os.path as osp
import sys
from typing import Dict, List

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: name -> (photo, crop (y0, y1, x0, x1) or None, scale).
PHOTOS = {
    'china': ('china.jpg', None, 1.0),
    'flower': ('flower.jpg', None, 1.0),
    'china_300x500': ('china.jpg', (37, 337, 11, 511), 1.0),
    'flower_251x333': ('flower.jpg', (90, 341, 150, 483), 1.0),
    'flower_300x300': ('flower.jpg', (60, 360, 170, 470), 1.0),
    'china_x0.3': ('china.jpg', None, 0.3),
    'flower_x0.5': ('flower.jpg', None, 0.5),
    'china_x1.5': ('china.jpg', None, 1.5),
    'flower_x2.5': ('flower.jpg', None, 2.5),
}


def parse_args(argv=None):
    from mmlcnetv2.cli.args import doc_parser
    parser = doc_parser(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir', required=True, metavar='DIR')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--out', help='also write the pairs as JSON')
    parser.add_argument('--report', metavar='MD',
                        help='also write a Markdown page')
    return parser.parse_args(argv)


def photos() -> Dict[str, np.ndarray]:
    """:data:`PHOTOS` as BGR ``uint8`` arrays (as cv2 decodes files)."""
    import cv2
    from sklearn.datasets import load_sample_image
    out = {}
    for name, (photo, box, scale) in PHOTOS.items():
        img = np.ascontiguousarray(load_sample_image(photo)[:, :, ::-1])
        if box is not None:
            y0, y1, x0, x1 = box
            img = img[y0:y1, x0:x1]
        if scale != 1.0:
            h, w = img.shape[:2]
            img = cv2.resize(img, (round(w * scale), round(h * scale)),
                             interpolation=cv2.INTER_AREA if scale < 1
                             else cv2.INTER_CUBIC)
        out[name] = np.ascontiguousarray(img)
    return out


def compare(ref: Dict, other: Dict, scale: float, thr: float) -> Dict:
    """The pairs and the unpartnered detections of ``ref`` (>= ``thr``)
    in ``other`` (any score)."""
    from mmlcnetv2.deploy.tasks.det_matching import match_detections
    keep = ref['scores'] >= thr
    sure = dict(bboxes=ref['bboxes'][keep], scores=ref['scores'][keep],
                labels=ref['labels'][keep])
    pairs, lone, _ = match_detections(sure, other, iou_thr=0.5)
    shift = [float(np.abs(sure['bboxes'][i] - other['bboxes'][j]).max())
             for i, j in pairs]
    score = [abs(float(sure['scores'][i] - other['scores'][j]))
             for i, j in pairs]
    return dict(shift_px=shift,
                shift_input_px=[s * scale for s in shift],
                score=score, unpartnered=[float(s) for s in
                                          sure['scores'][lone]])


def _stats(values: List[float]) -> str:
    if not values:
        return '-'
    return f'{max(values):.3g} / {float(np.median(values)):.3g}'


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.compat import ignore_known_upstream_warnings
    ignore_known_upstream_warnings()
    for name in ('config', 'checkpoint'):
        if not osp.isfile(getattr(args, name)):
            return bad_input(f'{name} {getattr(args, name)!r}: no such file')
    if not 0 <= args.score_thr <= 1:
        return bad_input(f'--score-thr {args.score_thr}: a score in [0, 1]')
    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.deploy import OpenVINOInferencer, export
    from mmlcnetv2.deploy.tasks import task_of
    task = task_of(load_config(args.config))
    if task != 'detection':
        return bad_input(f'config {args.config!r}: a detector\'s, got '
                         f'{task}')
    dirs = {form: osp.join(args.work_dir, form)
            for form in ('default', 'image')}
    export(args.config, args.checkpoint, dirs['default'])
    export(args.config, args.checkpoint, dirs['image'], input_form='image')
    default, image = (OpenVINOInferencer(d, precision_hint='f32')
                      for d in dirs.values())
    rows = {}
    for name, img in photos().items():
        info = default.preprocess(img)
        scale = float(info['scale'][0])
        a, b = default(img), image(img)
        rows[name] = dict(shape=list(img.shape[:2]),
                          resized=list(info['img_shape']),
                          vanished=compare(a, b, scale, args.score_thr),
                          appeared=compare(b, a, scale, args.score_thr))
        row = rows[name]
        pairs = row['vanished']
        print(f"{name:15s} {row['shape'][0]}x{row['shape'][1]} -> "
              f"{row['resized'][0]}x{row['resized'][1]}: "
              f"{len(pairs['shift_px'])} matched, shift max/median "
              f"{_stats(pairs['shift_px'])} px, score "
              f"{_stats(pairs['score'])}; "
              f"{len(pairs['unpartnered'])} vanished, "
              f"{len(row['appeared']['unpartnered'])} appeared", flush=True)
    total = {key: sum((r['vanished'][key] for r in rows.values()), [])
             for key in ('shift_px', 'shift_input_px', 'score')}
    lost = sum(len(r['vanished']['unpartnered']) for r in rows.values())
    new = sum(len(r['appeared']['unpartnered']) for r in rows.values())
    print(f"all: {len(total['score'])} matched, shift max/median "
          f"{_stats(total['shift_px'])} px ({_stats(total['shift_input_px'])}"
          f" network-input px), score {_stats(total['score'])}; {lost} "
          f'vanished, {new} appeared')
    from mmlcnetv2.utils.atomic import atomic_file
    if args.out:
        with atomic_file(args.out) as tmp, open(tmp, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           score_thr=args.score_thr, photos=rows), f,
                      indent=1)
    if args.report:
        with atomic_file(args.report) as tmp, open(tmp, 'w') as f:
            f.write(report(rows, total, lost, new, args, argv))
    return 0


def report(rows: Dict, total: Dict, lost: int, new: int, args,
           argv=None) -> str:
    """The Markdown page of ``--report``."""
    from mmlcnetv2.utils.machine import machine_info, machine_slug
    argv = sys.argv[1:] if argv is None else argv
    machine = machine_info()
    lines = [
        '# `--input image` against the default export, measured',
        '',
        '<!-- Generated by benchmarks/experiments/measure_image_input.py '
        '--report; do not edit by hand. -->',
        '',
        '```bash',
        'python benchmarks/experiments/measure_image_input.py '
        + ' '.join(argv),
        '```',
        '',
        f"Machine: {machine['cpu']} (`{machine_slug(machine)}`), OpenVINO "
        f"{machine['openvino']}, f32 hint. Model: `{args.config}`, "
        f'`{osp.basename(args.checkpoint)}`. Detections scoring >= '
        f'{args.score_thr} in the default export, matched one to one with '
        'those of the `--input image` export (same class, IoU >= 0.5); '
        'shift: the largest move of a box corner, in original pixels; '
        'max / median over the matched detections. Vanished: no partner '
        'in the image export; appeared: a detection >= the threshold of the '
        'image export without a partner in the default one.',
        '',
        '| photo | size -> network input | matched | corner shift px, max / '
        'median | score diff, max / median | vanished | appeared |',
        '| --- | --- | --- | --- | --- | --- | --- |',
    ]
    for name, row in rows.items():
        pairs = row['vanished']
        lines.append(
            f"| {name} | {row['shape'][0]}x{row['shape'][1]} -> "
            f"{row['resized'][0]}x{row['resized'][1]} | "
            f"{len(pairs['score'])} | {_stats(pairs['shift_px'])} | "
            f"{_stats(pairs['score'])} | {len(pairs['unpartnered'])} | "
            f"{len(row['appeared']['unpartnered'])} |")
    lines.append(
        f"| **all** | | {len(total['score'])} | "
        f"**{_stats(total['shift_px'])}** | **{_stats(total['score'])}** | "
        f'{lost} | {new} |')
    lines += ['', 'In network-input pixels the shifts are, max / median, '
              f"{_stats(total['shift_input_px'])}."]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
