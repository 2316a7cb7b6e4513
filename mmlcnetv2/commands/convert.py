# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Convert PP-LCNetV2 weights (PaddleClas, timm / Hugging Face) to ours.

    mmlcnetv2 convert PPLCNetV2_base_ssld_pretrained.pdparams \\
        checkpoints/pplcnetv2-base_ssld-in1k.pth --arch base
    mmlcnetv2 convert model.safetensors \\
        checkpoints/pplcnetv2-base_timm-ssld-in1k.pth --arch base

Sources: PaddleClas ``.pdparams`` (read without Paddle, numpy arrays only),
timm state dicts as ``.safetensors`` or ``.pth``/``.bin`` (tensors only,
``torch.load(weights_only=True)``), with or without a ``state_dict``/``model``
wrapper or a ``module.`` prefix. Nothing in the file is executed. The output
loads into ``configs/cls/pplcnetv2-<arch>_8xb256_in1k.py`` with strict=True,
and into detection/segmentation configs through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
A file that does not fit (another arch or network, truncated, NaN, unsafe)
exits with status 2 and one line naming the problem; nothing is written.
"""
import argparse


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('src', help='.pdparams, .safetensors, .pth or .bin')
    parser.add_argument('dst', help='output .pth checkpoint (a file name)')
    parser.add_argument(
        '--arch', required=True, choices=['small', 'base', 'large'])
    parser.add_argument(
        '--from', dest='source', default='auto',
        choices=['auto', 'paddle', 'timm'],
        help='where the file comes from (auto: from its format and keys, '
        'and say what was decided)')
    parser.add_argument(
        '--dropout', type=float, default=None,
        help='a Paddle model\'s dropout_prob (default: PaddleClas\'s 0.2), '
        'folded into the fc weight so that eval logits match Paddle\'s; '
        'timm files need none')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.converters import WeightsError, convert_weights
    from mmlcnetv2.converters.paddle import REFERENCE_DROPOUT
    dropout = REFERENCE_DROPOUT if args.dropout is None else args.dropout
    try:
        ckpt = convert_weights(args.src, args.dst, args.arch, args.source,
                               dropout)
    except (WeightsError, FileNotFoundError) as e:
        return bad_input(e)
    meta = ckpt['meta']
    n = sum(v.numel() for k, v in ckpt['state_dict'].items()
            if not k.endswith('num_batches_tracked'))
    decided = 'detected' if args.source == 'auto' else 'given'
    print(f'read {args.src}: {meta["source_format"]} file, '
          f'{meta["source_type"]} layout ({decided})')
    print(f'wrote {args.dst}: {len(ckpt["state_dict"])} tensors, {n:,} '
          f'values, {meta["num_classes"]} classes (arch {args.arch}'
          + (', fused: load it with configs/cls/deploy/' if meta['fused']
             else '') + ')')
    return 0

