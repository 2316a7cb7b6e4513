# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Run an export of tools/deploy.py on images and draw the results.

    mmlcnetv2 infer DIR IMAGE_OR_FOLDER... [--out-dir OUT]
        [--device CPU] [--precision-hint f32|bf16|f16] [--score-thr T]
        [--out-json FILE]

Classification: the top-5 classes are printed and written on the image;
detection: boxes with class and score; segmentation: a colour overlay.
One line per image (a single classified image: its top-5, one per line).
Folders are searched recursively. Pictures go to OUT (default: DIR/vis)
under their paths relative to the inputs' common folder, file name and
extension kept (a/img.jpg -> OUT/a/img.jpg, a/img.png -> OUT/a/img.png).
Only pictures of earlier runs are replaced (listed, with their size and
time, in OUT/.mmlcnetv2-outputs.json): any other file under a picture's
name is refused before anything is written.
Many images run at the device's throughput (an async queue of a
THROUGHPUT-hinted compile, decoding and drawing overlapped, a progress bar
on a terminal); the results are those of one image at a time, the lines
and pictures in input order, and the measured images/s is printed at the
end. An image that cannot be read or processed is reported on one line and
skipped; the others are processed. So is one whose header gives more than
MMLCNETV2_MAX_IMAGE_PIXELS pixels (default 178,956,970), before decoding. --out-json writes one JSON object per
image (skipped ones with their "error"). Pictures and JSON are written
under hidden temporary names and renamed when complete. An output that
would overwrite an input (--out-dir the images' own folder, --out-json an
image, a file of the export or a picture of the run) is refused before
anything is written.
Exit status: 0 if every image was processed, 2 if any was skipped or an
argument was refused.
"""
import collections
import json
import os
import os.path as osp
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

if TYPE_CHECKING:
    from mmlcnetv2.utils.written import WrittenFiles

# What a folder is searched for: what the decoder reads (a single file of
# any other name is tried as given).
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff',
              '.gif')
#: Threads drawing and writing the pictures (cv2 encoding releases the GIL).
WRITERS = 2


def parse_args(argv=None):
    from mmlcnetv2.cli.args import doc_parser
    parser = doc_parser(__doc__)
    parser.add_argument('model_dir')
    parser.add_argument('inputs', nargs='+', help='images or folders')
    parser.add_argument('--out-dir', help='default: MODEL_DIR/vis')
    parser.add_argument('--device', default='CPU')
    parser.add_argument('--precision-hint', choices=['f32', 'bf16', 'f16'],
                        help="default: OpenVINO's choice (bf16 where the "
                        'CPU has it)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw (and list in --out-json) boxes '
                        'at or above this score')
    parser.add_argument('--out-json', metavar='FILE',
                        help='also write the results as JSON lines, one '
                        'object per image')
    return parser.parse_args(argv)


def _walk(folder: str, skip: str) -> List[str]:
    """Image files under ``folder``, sorted, not descending into ``skip``
    (the output folder, so a rerun does not read its own pictures), nor
    taking our temporary files (a picture being written), which are told
    by their markers, not by their names."""
    from mmlcnetv2.utils.atomic import temp_entries
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs
                         if osp.realpath(osp.join(root, d)) != skip)
        ours = temp_entries(root)
        files += sorted(osp.join(root, f) for f in names
                        if f.lower().endswith(IMAGE_EXTS) and f not in ours)
    return files


def collect_images(inputs, out_dir: str = '') -> List[Tuple[str, str]]:
    """``(path, name)`` of every image of the arguments.

    Folders are searched recursively (sorted); a file given twice counts
    once. ``name`` is the path relative to the folder all the images share,
    extension included, so that ``a/img.jpg``, ``b/img.jpg`` and
    ``a/img.png`` get three different outputs.
    """
    skip = osp.realpath(out_dir) if out_dir else ''
    files, seen = [], set()
    for item in inputs:
        if osp.isdir(item):
            found = _walk(item, skip)
        elif osp.exists(item):
            # A FIFO or device too: the decoder's check names it.
            found = [item]
        else:
            raise FileNotFoundError(f'No such image or folder: {item!r}')
        for f in found:
            if osp.realpath(f) not in seen:
                seen.add(osp.realpath(f))
                files.append(f)
    if not files:
        raise FileNotFoundError(f'No images in {inputs}')
    base = osp.commonpath([osp.dirname(osp.abspath(f)) for f in files])
    return [(f, osp.relpath(osp.abspath(f), base)) for f in files]


def check_outputs(files: List[Tuple[str, str]], out_dir: str,
                  out_json: Optional[str], export_files: List[str],
                  written: 'WrittenFiles') -> None:
    """Refuse outputs that would overwrite an input or a file that is not
    ours, before any is written.

    A picture ``out_dir/name`` must not be one of the input images
    (``--out-dir`` the images' own folder), nor an existing file that an
    earlier run did not write (``written``); ``--out-json`` neither an
    input image, a file of the export, a picture of this run nor a folder;
    ``out_dir`` must not be a file.

    Raises:
        UserInputError: Naming the option, the path and the input.
    """
    from mmlcnetv2.errors import UserInputError
    from mmlcnetv2.utils.outputs import check_output_file, file_id, file_ids
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise UserInputError(f'--out-dir {out_dir!r} is a file, not a '
                             'folder; nothing was written')
    images = file_ids(f for f, _ in files)
    for path, name in files:
        clash = images.get(file_id(osp.join(out_dir, name)))
        if clash is not None:
            raise UserInputError(
                f'--out-dir {out_dir!r}: the picture of {path!r} would '
                f'overwrite the input image {clash!r}; nothing was written: '
                'choose another --out-dir (default: MODEL_DIR/vis)')
    if out_json:
        check_output_file(out_json, '--out-json',
                          [f for f, _ in files] + export_files)
        pictures = {osp.realpath(osp.join(out_dir, n)): n for _, n in files}
        picture = pictures.get(osp.realpath(out_json))
        if picture is not None:
            raise UserInputError(
                f'--out-json {out_json!r} is the picture this run draws of '
                f'{picture!r} in --out-dir {out_dir!r}; nothing was written: '
                'choose a file outside the pictures')
    written.check_replaceable([n for _, n in files], '--out-dir')


def write_picture(path: str, img: np.ndarray) -> None:
    """``img`` to ``path`` in the format of its extension, atomically."""
    from mmlcnetv2.utils.atomic import atomic_file
    from mmlcnetv2.utils.disk_full import reporting_full_disk
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    # Outer: the temporary file and its marker; inner: OpenCV's False,
    # asked while the partial file still fills the disk.
    with reporting_full_disk(path, path), \
            atomic_file(path, suffix=osp.splitext(path)[1]) as tmp, \
            reporting_full_disk(tmp, path):
        if not cv2.imwrite(tmp, img):
            # OpenCV says nothing more: a full disk is named by the check.
            raise OSError(f'OpenCV cannot write {path!r}')


def write_json_lines(path: str, records: List[dict]) -> None:
    """One JSON object per line to ``path``, atomically.

    Raises:
        NoSpaceError: The disk is full (nothing is left at ``path``).
    """
    from mmlcnetv2.utils.atomic import atomic_file
    from mmlcnetv2.utils.disk_full import reporting_full_disk
    with reporting_full_disk(path, path), atomic_file(path) as tmp, \
            open(tmp, 'w') as f:
        for record in records:
            f.write(json.dumps(record) + '\n')


def run(inferencer, files: List[Tuple[str, str]], out_dir: str,
        score_thr: float, written: 'WrittenFiles'
        ) -> Tuple[List[dict], int, float]:
    """Every image of ``files`` (``(path, name)``): its line, its picture
    ``out_dir/name`` (recorded in ``written``) and its record, in input
    order.

    Decoding, the network (async requests of a THROUGHPUT-hinted model) and
    drawing + writing overlap. Returns the records, how many images were
    skipped and the seconds taken (the compile excluded).
    """
    handler = inferencer.deploy_task  # summary, console line, drawing
    records: List[dict] = []
    failed = 0
    skippable = (ValueError, OSError, cv2.error, RuntimeError)

    def skip(path: str, e: BaseException) -> None:
        # One bad image (undecodable, degenerate, unwritable) must not
        # end the run: say which and why, go on with the others.
        nonlocal failed
        reason = str(e).strip().splitlines()[-1] if str(e).strip() \
            else type(e).__name__
        tqdm.write(f'skipped {path}: {reason}', file=sys.stderr)
        records.append(dict(image=path, output=None, error=reason))
        failed += 1

    def finish(path, name, result, record, future) -> None:
        # In input order, once its picture is written.
        try:
            future.result()
        except skippable as e:
            return skip(path, e)
        written.add(name)
        records.append(dict(image=path, output=osp.join(out_dir, name),
                            **record))
        # One image: the task may say more than its line (a classifier's
        # top-5, one per line).
        text = handler.single_image_text(
            result, inferencer.classes) if len(files) == 1 else None
        tqdm.write(f'{name}: {handler.one_line(record, score_thr)}'
                   if text is None else text, file=sys.stdout)

    def draw_and_write(img, result, name) -> None:
        # Checked before the run too; a file made since is not replaced.
        written.check_replaceable([name], '--out-dir')
        write_picture(osp.join(out_dir, name),
                      handler.draw(img, result, inferencer.classes,
                                   score_thr))

    inferencer.throughput_model()  # compiled before the clock starts
    start = time.perf_counter()
    writing = collections.deque()
    with ThreadPoolExecutor(WRITERS) as writers, tqdm(
            total=len(files), unit='img', disable=None,
            file=sys.stderr) as bar:
        for done in inferencer.stream([f for f, _ in files],
                                      keep_images=True):
            path, name = files[done.index]
            try:
                if done.error is not None:
                    raise done.error
                record = handler.summarize(done.result, inferencer.classes,
                                           score_thr)
            except skippable as e:
                while writing:  # its line after the ones before it
                    finish(*writing.popleft())
                skip(path, e)
            else:
                future = writers.submit(draw_and_write, done.prepared[0],
                                        done.result, name)
                writing.append((path, name, done.result, record, future))
            while writing and (writing[0][-1].done()
                               or len(writing) > 2 * WRITERS):
                finish(*writing.popleft())
            bar.update()
        while writing:
            finish(*writing.popleft())
    return records, failed, time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.cli import BAD_INPUT, OK, bad_input
    from mmlcnetv2.deploy import OpenVINOInferencer
    from mmlcnetv2.deploy.preprocess.image_file import max_pixels
    from mmlcnetv2.deploy.manifest.schema import owned_files
    from mmlcnetv2.utils.written import WrittenFiles
    from mmlcnetv2.utils.disk_full import NoSpaceError
    out_dir = args.out_dir or osp.join(args.model_dir, 'vis')
    try:
        inferencer = OpenVINOInferencer(args.model_dir, args.device,
                                        args.precision_hint)
        files = collect_images(args.inputs, out_dir)
        written = WrittenFiles(out_dir, 'tools/infer.py')
        max_pixels()  # a bad MMLCNETV2_MAX_IMAGE_PIXELS: one line, now
        check_outputs(files, out_dir, args.out_json, [
            osp.join(args.model_dir, f) for f in owned_files(args.model_dir)],
            written)
    except (FileNotFoundError, ValueError) as e:
        # bad input: a missing or invalid export (deploy.json), an unknown
        # --device, an output that would overwrite an input or a file not
        # written by an earlier run
        return bad_input(e)
    task = inferencer.task
    try:
        records, failed, elapsed = run(inferencer, files, out_dir,
                                       args.score_thr, written)
    finally:  # also after Ctrl-C: the pictures written are ours
        written.save()
    if args.out_json:
        try:
            write_json_lines(args.out_json, [dict(task=task, **record)
                                             for record in records])
        except NoSpaceError as e:
            return bad_input(e)
    print(f'wrote {len(files) - failed} pictures to {out_dir}, skipped '
          f'{failed}' + (f'; results in {args.out_json}'
                         if args.out_json else ''))
    print(f'{len(files)} images in {elapsed:.2f} s: '
          f'{len(files) / max(elapsed, 1e-9):.1f} images/s')
    return BAD_INPUT if failed else OK

