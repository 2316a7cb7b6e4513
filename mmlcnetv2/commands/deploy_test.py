# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Evaluate an export of tools/deploy.py on the config's test set.

    mmlcnetv2 deploy-test CONFIG DIR [--compare-to DIR2]
        [--precision-hint f32|bf16|f16|auto] [--limit N] [--out JSON]

Runs the IR through OpenVINOInferencer on every test image (original files,
deployed preprocessing) and scores it with the config's own evaluator:
top-1 (classification), COCO bbox mAP (detection), mIoU (segmentation).
With --compare-to (e.g. the f32 export when DIR is int8) the second IR is
scored too and the agreement of the two is reported: same top-1, same
pixel class, or boxes (score >= 0.3) matched by class and IoU >= 0.5.
"""
import json
import os.path as osp

from mmengine.config import DictAction


def parse_args(argv=None):
    from mmlcnetv2.cli.args import doc_parser
    parser = doc_parser(__doc__)
    parser.add_argument('config')
    parser.add_argument('model_dir')
    parser.add_argument('--compare-to', metavar='DIR2',
                        help='another export of the same model')
    parser.add_argument('--precision-hint', default='f32',
                        choices=['f32', 'bf16', 'f16', 'auto'],
                        help="INFERENCE_PRECISION_HINT (default f32; 'auto' "
                        "keeps OpenVINO's choice)")
    parser.add_argument('--limit', type=int,
                        help='only the first N test images (not detection)')
    parser.add_argument('--out', help='also write the results as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.utils.denormals import configure_denormals_or_exit
    configure_denormals_or_exit()  # first: before torch starts threads
    from mmlcnetv2.apis.build import load_config
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.deploy.runtime.evaluate import evaluate_ir
    from mmlcnetv2.deploy.manifest.schema import DeployFormatError
    if args.limit is not None and args.limit < 1:
        return bad_input(f'--limit must be >= 1, got {args.limit}')
    from mmlcnetv2.deploy.manifest.schema import owned_files
    from mmlcnetv2.utils.outputs import check_output_file
    try:
        if args.out:  # before minutes of evaluation
            exports = [args.model_dir] + ([args.compare_to]
                                          if args.compare_to else [])
            check_output_file(args.out, '--out', [args.config] + [
                osp.join(d, f) for d in exports for f in owned_files(d)])
        cfg = load_config(args.config, args.cfg_options)
        hint = None if args.precision_hint == 'auto' else args.precision_hint
        result = evaluate_ir(args.model_dir, cfg, args.compare_to, hint,
                             args.limit)
    except (DeployFormatError, FileNotFoundError, ValueError, KeyError) as e:
        # A missing config or export folder, a deploy.json field (named), a
        # config that does not fit the export.
        return bad_input(e)
    lines = [f"{args.model_dir}: {result['images']} images"]
    lines += [f'  {k}: {v}' for k, v in result['metrics'].items()]
    if args.compare_to:
        lines.append(f'{args.compare_to}:')
        lines += [f'  {k}: {v}' for k, v in result['compare_metrics'].items()]
        lines.append(f"agreement: {100 * result['agreement']:.2f} %")
    print('\n'.join(lines))
    if args.out:
        from mmlcnetv2.utils.atomic import atomic_file
        with atomic_file(args.out) as path:
            with open(path, 'w') as f:
                json.dump(result, f, indent=1, default=float)
    return 0

