#!/usr/bin/env python
"""A folder of photos at full throughput? Measure it.

    python benchmarks/experiments/measure_folder_throughput.py [--num 200]
        [--model-dir DIR] [--precision-hint f32|bf16|f16] [--rounds 3]
        [--bench-time 15] [--json out.json]

Writes ``--num`` JPEGs (427x640, scikit-learn's ``china.jpg`` and
``flower.jpg``, plain and mirrored) to a temporary folder that is deleted
at the end, and runs the fused base classifier export (``--model-dir``, or
one made here with random weights: speed does not depend on them) on them:

1. one by one: ``[inferencer(path) for path in paths]``, one synchronous
   request of the LATENCY-hinted model at a time;
2. ``inferencer.map(paths)``: the async queue of the THROUGHPUT-hinted
   model, decoding and preprocessing overlapped (``deploy/runtime/stream.py``);
3. ``inferencer.map(arrays)``: the same on images decoded beforehand
   (what decoding costs);
4. ``tools/infer.py MODEL_DIR FOLDER``: the above plus drawing and writing
   every picture (its own images/s line);
5. the network alone at its async throughput, as ``tools/benchmark.py``'s
   throughput phase measures it (``AsyncInferQueue`` on one preprocessed
   input for ``--bench-time`` s), and ``benchmark_app -hint throughput``
   of the openvino package when it is on PATH.

Each of 1-3 is the median images/s of ``--rounds`` rounds. The issue-15
goal is 2 within 10 % of 5. Also measured, on one thread, the median ms
per image of decoding, preprocessing and post-processing: the CPU they
take from the network bounds 2 at ``1 / (1 / network + (decode +
preprocess + postprocess) / cpus)`` (``bound``). Numbers depend on machine
load: run it idle.
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

CLS_CONFIG = 'configs/cls/pplcnetv2-base_8xb256_in1k.py'
CLS_DEPLOY = 'configs/cls/deploy/pplcnetv2-base_deploy_8xb256_in1k.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--num', type=int, default=200, help='JPEGs to write')
    p.add_argument('--model-dir', help='an existing classifier export '
                   '(default: the fused base classifier, random weights)')
    p.add_argument('--precision-hint', choices=['f32', 'bf16', 'f16'],
                   help="default: OpenVINO's choice")
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--bench-time', type=float, default=15.0,
                   help='seconds of async network throughput')
    p.add_argument('--no-benchmark-app', action='store_true')
    p.add_argument('--json', help='write the numbers here')
    return p.parse_args(argv)


def write_photos(folder: str, num: int):
    """``num`` JPEGs of the sample photos, plain and mirrored."""
    import cv2
    from sklearn.datasets import load_sample_image
    photos = [load_sample_image(n)[:, :, ::-1] for n in ('china.jpg',
                                                        'flower.jpg')]
    photos += [p[:, ::-1] for p in photos]
    paths = []
    for i in range(num):
        path = osp.join(folder, f'{i:04d}.jpg')
        cv2.imwrite(path, photos[i % len(photos)],
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def random_classifier(folder: str) -> str:
    """The fused base classifier export with random weights (non-trivial
    BN statistics, as the tests make them)."""
    import torch
    from mmlcnetv2.apis import build_model, load_config
    from mmlcnetv2.deploy import export
    from mmlcnetv2.utils.batchnorm import randomize_bn
    torch.manual_seed(0)
    model = build_model(load_config(osp.join(ROOT, CLS_CONFIG)))
    randomize_bn(model, mean_std=0.3, var_range=(0.5, 2.0),
                 weight_range=(0.5, 1.5), bias_std=0.1)
    ckpt = osp.join(folder, 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = osp.join(folder, 'cls_ir')
    export(osp.join(ROOT, CLS_DEPLOY), ckpt, out)
    return out


def rate(fn, n: int, rounds: int) -> dict:
    """Median (and all) images/s of ``rounds`` runs of ``fn()``."""
    fn()  # warm-up (and the throughput model's compile)
    fps = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        fps.append(n / (time.perf_counter() - start))
    return dict(fps=statistics.median(fps), rounds=[round(f, 1)
                                                    for f in fps])


def per_image_ms(fn, items) -> float:
    """Median ms of ``fn(item)`` over ``items`` (this thread only)."""
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def benchmark_app(xml: str, seconds: float, hint) -> dict:
    """``benchmark_app -hint throughput`` of the openvino package."""
    exe = shutil.which('benchmark_app') or osp.join(
        osp.dirname(sys.executable), 'benchmark_app')
    if not osp.isfile(exe):
        return dict(skipped='benchmark_app not found')
    cmd = [exe, '-m', xml, '-d', 'CPU', '-hint', 'throughput', '-t',
           str(int(seconds))]
    if hint:
        cmd += ['-infer_precision', hint]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    found = re.search(r'Throughput:\s+([\d.]+)\s+FPS', out)
    return dict(fps=float(found.group(1)), command=' '.join(cmd)) \
        if found else dict(skipped=out.strip().splitlines()[-1:])


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()
    from benchmarks.timing import async_throughput
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.deploy import OpenVINOInferencer
    from mmlcnetv2.deploy.preprocess.host import load_image
    from mmlcnetv2.deploy.runtime.stream import default_jobs
    from mmlcnetv2.commands import infer as infer_tool
    for name in ('num', 'rounds'):
        if getattr(args, name) < 1:
            return bad_input(f'--{name} {getattr(args, name)}: at least 1')
    if args.model_dir:  # before anything is written
        try:
            OpenVINOInferencer(args.model_dir)
        except (FileNotFoundError, ValueError) as e:
            return bad_input(e)
    tmp = tempfile.mkdtemp(prefix='folder_throughput_')
    try:
        folder = osp.join(tmp, 'images')
        os.makedirs(folder)
        paths = write_photos(folder, args.num)
        model_dir = args.model_dir or random_classifier(tmp)
        net = OpenVINOInferencer(model_dir, precision_hint=args.precision_hint)
        arrays = [load_image(p) for p in paths]
        n = len(paths)
        rows = dict(
            one_by_one=rate(lambda: [net(p) for p in paths], n, args.rounds),
            map_paths=rate(lambda: list(net.map(paths)), n, args.rounds),
            map_arrays=rate(lambda: list(net.map(arrays)), n, args.rounds))
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            infer_tool.main([model_dir, folder, '--out-dir',
                             osp.join(tmp, 'vis')] + (
                ['--precision-hint', args.precision_hint]
                if args.precision_hint else []))
        found = re.search(r'([\d.]+) images/s', printed.getvalue())
        rows['tools_infer'] = dict(fps=float(found.group(1)))
        x = net.preprocess(paths[0])['input']
        rows['network_async'] = async_throughput(net.throughput_model(),
                                                 x, args.bench_time)
        sample = paths[:40]
        infos = [net.preprocess(a) for a in arrays[:40]]
        outputs = [net.infer_tensor(i['input']) for i in infos]
        cost = dict(
            decode_ms=per_image_ms(load_image, sample),
            preprocess_ms=per_image_ms(net.preprocess, arrays[:40]),
            postprocess_ms=per_image_ms(lambda k: net.postprocess(
                outputs[k], infos[k]), range(len(infos))))
        if not args.no_benchmark_app:
            rows['benchmark_app'] = benchmark_app(
                osp.join(model_dir, 'model.xml'), args.bench_time,
                args.precision_hint)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bench = rows['network_async']['fps']
    rows['bound'] = dict(fps=1 / (1 / bench + sum(cost.values()) / 1e3
                                  / os.cpu_count()))
    report = dict(machine=platform.processor() or platform.machine(),
                  cpus=os.cpu_count(), load_average=os.getloadavg(),
                  precision=net.precision, images=n,
                  requests=rows['network_async']['requests'],
                  map_requests=default_jobs(net.throughput_model()),
                  rows=rows,
                  cost=cost,
                  map_over_network=rows['map_paths']['fps'] / bench)
    print(f'{n} JPEGs 427x640, {net.precision}, '
          f"{report['requests']} requests (network async; map: "
          f"{report['map_requests']}), {os.cpu_count()} CPUs, load "
          f"average {report['load_average'][0]:.1f}")
    for name, row in rows.items():
        fps = row.get('fps')
        print(f'{name:14s} ' + (f'{fps:8.1f} images/s  {fps / bench:5.2f}x '
                                'network async' if fps else
                                f"skipped: {row.get('skipped')}"))
    print('one thread, ms per image: ' + ', '.join(
        f'{k[:-3]} {v:.2f}' for k, v in cost.items()))
    if args.json:
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
