#!/usr/bin/env python
"""Does reduced-size JPEG decoding change results? Measure it.

    OMP_NUM_THREADS=1 python benchmarks/experiments/measure_reduced_decode.py \
        [--num 200] [--margin 2] [--json out.json]

Makes ``--num`` large JPEGs (1500-5000 px long side, qualities 75/85/95,
half of them with sensor-like grain) from random crops, flips and upscales
of scikit-learn's two sample photos, plus fixed 4000x3000, 3000x4000,
4001x2999 and 1999x1501 ones, in a temporary folder that is deleted at the
end. For each image it compares ``OpenVINOInferencer(fast_decode=True)``'s
preprocessing (:mod:`mmlcnetv2.deploy.preprocess.jpeg`) with the full decode:

1. the normalized network input, max/mean abs difference, for the test
   pipelines of the base classifier (resize short 256, crop 224), the
   PicoDet-style detector (resize 416x416) and the custom LRASPP segmenter
   (keep-ratio 2048x512), next to "resize noise": the full decode resized
   with ``area`` instead of the config's interpolation;
2. top-1 agreement of a fused PP-LCNetV2-base classifier export
   (``--checkpoint``, e.g. converted PaddleClas weights) or, as pretrained
   weights cannot be downloaded here, of random weights with BN statistics
   calibrated on the images. A random network is chaotic (tiny input
   changes flip its class), so that agreement is a pessimistic bound; the
   same table gives the agreement of the ``area`` resize, which is what
   resize noise alone does to the same model;
3. latency (median) of decode + preprocess, full vs reduced, on one
   thread, and the network alone for reference.

Numbers depend on machine load; docs/deploy.md has the ones behind the
``fast_decode`` default.
"""
import argparse
import json
import os
import os.path as osp
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS_CONFIG = 'configs/cls/pplcnetv2-base_8xb256_in1k.py'
CLS_DEPLOY = 'configs/cls/deploy/pplcnetv2-base_deploy_8xb256_in1k.py'
PIPELINES = {
    'cls resize-short 256 + crop 224': (CLS_CONFIG, 'classification'),
    'det resize 416x416': (
        'configs/det/picodet-style_lcnetv2-base_416_coco.py', 'detection'),
    'seg keep-ratio 2048x512': ('configs/seg/lraspp_lcnetv2-base_custom.py',
                                'segmentation'),
}
FIXED = [((4000, 3000), 90), ((3000, 4000), 90), ((4001, 2999), 85),
         ((1999, 1501), 95)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--num', type=int, default=200,
                   help='random large images (plus 4 fixed ones)')
    p.add_argument('--margin', type=float, default=None,
                   help='decode.reduction_factor margin (default: the '
                   "module's DEFAULT_MARGIN)")
    p.add_argument('--repeat', type=int, default=10,
                   help='timed runs per latency row')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--checkpoint',
                   help='a trained checkpoint of the base classifier '
                   '(e.g. PaddleClas weights converted by '
                   'tools/convert_paddle_weights.py) instead of random '
                   'weights: its top-1 agreement is the meaningful one')
    p.add_argument('--json', help='also write the numbers here')
    return p.parse_args(argv)


def make_images(folder, num, rng):
    """Large JPEGs from the sample photos; [(path, (w, h), quality)]."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_sample_image
    photos = [load_sample_image(n)[:, :, ::-1].copy()
              for n in ('china.jpg', 'flower.jpg')]
    specs = [(i % 2, None, size, q, False) for i, (size, q) in
             enumerate(FIXED)]
    for i in range(num):
        long_side = int(rng.integers(1500, 5001))
        ratio = float(rng.uniform(0.5, 1.0))
        w, h = long_side, max(int(long_side * ratio), 64)
        if rng.random() < 0.3:
            w, h = h, w  # portrait
        specs.append((i % 2, rng, (w, h), int(rng.choice([75, 85, 95])),
                      bool(rng.random() < 0.5)))
    out = []
    for i, (k, r, (w, h), quality, grain) in enumerate(specs):
        img = photos[k]
        if r is not None:  # random crop keeping at least half of each side
            ph, pw = img.shape[:2]
            ch, cw = int(ph * r.uniform(0.5, 1)), int(pw * r.uniform(0.5, 1))
            y, x = int(r.integers(0, ph - ch + 1)), int(
                r.integers(0, pw - cw + 1))
            img = img[y:y + ch, x:x + cw]
            if r.random() < 0.5:
                img = img[:, ::-1]
        big = cv2.resize(np.ascontiguousarray(img), (w, h),
                         interpolation=cv2.INTER_CUBIC)
        if grain:  # an upscale is smoother than a real photo: add detail
            noise = r.normal(0, 4, big.shape).astype(np.float32)
            big = np.clip(big + noise, 0, 255).astype(np.uint8)
        path = osp.join(folder, f'{i:03d}_{w}x{h}_q{quality}.jpg')
        cv2.imwrite(path, big, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append((path, (w, h), quality))
    return out


def classifier(folder, images, checkpoint=None):
    """A fused base classifier export of ``checkpoint``, or random weights.

    Random BN statistics make a deep random network chaotic (a pixel of
    noise changes every class), so the BN statistics are calibrated
    instead: a forward pass in training mode over crops of the sample
    photos, as if the network had been trained on them. The convolutions
    and the head stay random.
    """
    import numpy as np
    import torch
    from mmlcnetv2.apis import build_model, load_config
    from mmlcnetv2.deploy import export
    from mmlcnetv2.deploy.preprocess.spec import preprocess_spec
    from mmlcnetv2.deploy.tasks import get_task
    from mmlcnetv2.deploy.preprocess.host import load_image
    from mmlcnetv2.deploy.preprocess.host import prepare_image
    out = osp.join(folder, 'cls_ir')
    if checkpoint:
        export(osp.join(ROOT, CLS_DEPLOY), checkpoint, out,
               input_form='float')  # this script feeds it tensors
        return out
    torch.manual_seed(0)
    cfg = load_config(osp.join(ROOT, CLS_CONFIG))
    model = build_model(cfg)
    pre = preprocess_spec(cfg, get_task('classification'))
    batch = np.stack([prepare_image(load_image(p), pre, (224, 224))['input']
                      for p, _, _ in images[:48]])
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        for chunk in np.array_split(batch, 6):
            model(torch.from_numpy(chunk), mode='tensor')
    model.eval()
    ckpt = osp.join(folder, 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    # The float form: this script feeds it normalized tensors.
    export(osp.join(ROOT, CLS_DEPLOY), ckpt, out, input_form='float')
    return out


def inputs(path, pre, fit, margin):
    """Network inputs: full decode, reduced decode, full decode + area."""
    from mmlcnetv2.deploy.preprocess.jpeg import decode_for_steps
    from mmlcnetv2.deploy.preprocess.host import load_image
    from mmlcnetv2.deploy.preprocess.host import prepare_image
    img = load_image(path)
    full = prepare_image(img, pre, fit)['input']
    dec = decode_for_steps(path, pre['steps'], fit, margin)
    reduced = prepare_image(dec.image, dict(pre, steps=dec.steps), fit)['input']
    area_steps = [dict(s, interpolation='area') if 'interpolation' in s
                  else s for s in pre['steps']]
    area = prepare_image(img, dict(pre, steps=area_steps), fit)['input']
    return full, reduced, area, dec.factor


def agreement(logits, standardize=True):
    """Top-1 agreement of reduced / area inputs with the full decode.

    ``logits``: ``[images, 3 (full, reduced, area), classes]``. A random
    head gives nearly the same class to every image, so each class's logit
    is standardized over the images' full-decode logits first (another
    linear head on the same features; the same for all three inputs):
    top-1 then varies from image to image. Also for the first 10 classes
    only (a 10-class head: fewer near-ties). ``standardize=False`` (a
    trained checkpoint): the logits as they are.
    """
    import numpy as np
    full = logits[:, 0]
    z = (logits - full.mean(0)) / (full.std(0) + 1e-12) if standardize \
        else logits
    out = {}
    for k in (z.shape[-1], 10):
        top = z[..., :k].argmax(-1)
        gaps = np.sort(z[:, 0, :k], -1)
        out[f'{k} classes'] = dict(
            reduced=float(np.mean(top[:, 0] == top[:, 1])),
            area=float(np.mean(top[:, 0] == top[:, 2])),
            distinct_top1=int(len(set(top[:, 0].tolist()))),
            median_top2_gap=float(np.median(gaps[:, -1] - gaps[:, -2])))
    return out


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1e3


def main(argv=None):
    args = parse_args(argv)
    import cv2
    import numpy as np
    cv2.setNumThreads(1)
    from mmlcnetv2.apis import load_config
    from mmlcnetv2.deploy import OpenVINOInferencer
    from mmlcnetv2.deploy.preprocess.jpeg import (DEFAULT_MARGIN,
                                                  decode_for_steps)
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.deploy.preprocess.host import load_image, prepare_image
    from mmlcnetv2.deploy.preprocess.spec import preprocess_spec
    from mmlcnetv2.deploy.tasks import get_task
    if args.checkpoint and not osp.isfile(args.checkpoint):
        return bad_input(f'--checkpoint {args.checkpoint!r}: no such file')
    if args.num < 0 or args.repeat < 1:
        return bad_input(f'--num must be >= 0 and --repeat >= 1, got '
                         f'{args.num} and {args.repeat}')
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    rng = np.random.default_rng(args.seed)
    folder = tempfile.mkdtemp(prefix='reduced_decode_')
    report = dict(machine=platform.processor() or platform.machine(),
                  load_average=os.getloadavg(), margin=margin)
    try:
        t = time.time()
        images = make_images(folder, args.num, rng)
        print(f'{len(images)} JPEGs written in {time.time() - t:.0f} s')
        ir = classifier(folder, images, args.checkpoint)
        net = OpenVINOInferencer(ir, precision_hint='f32',
                                 ov_config={'INFERENCE_NUM_THREADS': 1})
        fit = net.input_size
        diffs = {}
        for name, (config, task) in PIPELINES.items():
            pre = preprocess_spec(load_config(osp.join(ROOT, config)),
                                  get_task(task))
            rows = dict(factors={}, max_reduced=[], mean_reduced=[],
                        max_area=[], mean_area=[])
            top1 = []
            for path, size, quality in images:
                f, r, a, factor = inputs(path, pre,
                                         fit if task == 'classification'
                                         else None, margin)
                rows['factors'][factor] = rows['factors'].get(factor, 0) + 1
                rows['max_reduced'].append(float(np.abs(r - f).max()))
                rows['mean_reduced'].append(float(np.abs(r - f).mean()))
                rows['max_area'].append(float(np.abs(a - f).max()))
                rows['mean_area'].append(float(np.abs(a - f).mean()))
                if task == 'classification':
                    top1.append([net.infer_tensor(x[None])[0][0]
                                 for x in (f, r, a)])
            summary = dict(
                factors={str(k): v
                         for k, v in sorted(rows['factors'].items())},
                **{k: dict(mean=float(np.mean(v)), max=float(np.max(v)))
                   for k, v in rows.items() if k != 'factors'})
            if top1:
                summary.update(agreement(np.array(top1),
                                         standardize=not args.checkpoint))
            diffs[name] = summary
            print(f'\n{name}: decode factors {summary["factors"]}')
            print('  |input diff| (normalized units)   mean-of-mean  '
                  'mean-of-max  worst-max')
            for what in ('reduced', 'area'):
                label = ('reduced vs full decode' if what == 'reduced' else
                         'area vs config resize (noise)')
                print(f'  {label:34s} '
                      f'{summary["mean_" + what]["mean"]:12.4f} '
                      f'{summary["max_" + what]["mean"]:12.3f} '
                      f'{summary["max_" + what]["max"]:10.3f}')
            if top1:
                for k in ('1000', '10'):
                    a = summary[k + ' classes']
                    print(f'  top-1 agreement with full decode, {k} classes:'
                          f' reduced {100 * a["reduced"]:.2f} %, area resize'
                          f' {100 * a["area"]:.2f} % ({a["distinct_top1"]}'
                          f' distinct top-1, median top-2 gap '
                          f'{a["median_top2_gap"]:.3f} std)')
        report['pipelines'] = diffs
        # Latency: one thread (cv2 and OpenVINO), median of --repeat runs.
        pre = net.meta['preprocess']
        latency = {}
        print('\nlatency, ms (median, 1 thread): full decode+preprocess / '
              'reduced / factor')
        for path, size, quality in images[:len(FIXED)]:
            full = timed(lambda: prepare_image(load_image(path), pre, fit),
                         args.repeat)

            def fast():
                dec = decode_for_steps(path, pre['steps'], fit, margin)
                prepare_image(dec.image, dict(pre, steps=dec.steps), fit)
            reduced = timed(fast, args.repeat)
            factor = decode_for_steps(path, pre['steps'], fit, margin).factor
            key = f'{size[0]}x{size[1]} q{quality}'
            latency[key] = dict(full=full, reduced=reduced, factor=factor)
            print(f'  {key:18s} {full:8.1f} {reduced:8.1f}  1/{factor}')
        x = net.preprocess(images[0][0])['input']
        network = timed(lambda: net.infer_tensor(x), 5 * args.repeat)
        latency['network_only_f32'] = network
        print(f'  network only (f32, 1 thread): {network:.1f} ms')
        report['latency_ms'] = latency
        report['load_average_after'] = os.getloadavg()
        print(f'\nload average before/after: {report["load_average"]} / '
              f'{report["load_average_after"]}')
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.json) as tmp, open(tmp, 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
