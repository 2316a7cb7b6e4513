#!/usr/bin/env python
"""Convert PaddleClas PPLCNetV2 ``.pdparams`` to an mmpretrain checkpoint.

    python tools/convert_paddle_weights.py PPLCNetV2_base_pretrained.pdparams \
        checkpoints/pplcnetv2-base_paddle-in1k.pth --arch base

Paddle need not be installed. The output loads into
``configs/cls/pplcnetv2-<arch>_8xb256_in1k.py`` with no missing or unexpected
keys, and into detection/segmentation configs through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
"""
import argparse
import sys

from mmlcnetv2.converters import PaddleWeightsError, convert_paddle_checkpoint
from mmlcnetv2.converters.paddle import REFERENCE_DROPOUT


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='PaddleClas .pdparams file')
    parser.add_argument('dst', help='output .pth checkpoint')
    parser.add_argument(
        '--arch', required=True, choices=['small', 'base', 'large'])
    parser.add_argument(
        '--dropout', type=float, default=REFERENCE_DROPOUT,
        help='the Paddle model\'s dropout_prob (folded into the fc weight '
        'so that eval logits match Paddle\'s)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        ckpt = convert_paddle_checkpoint(args.src, args.dst, args.arch,
                                         args.dropout)
    except (PaddleWeightsError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    n = sum(v.numel() for k, v in ckpt['state_dict'].items()
            if not k.endswith('num_batches_tracked'))
    print(f'wrote {args.dst}: {len(ckpt["state_dict"])} tensors, {n:,} '
          f'values, {ckpt["meta"]["num_classes"]} classes (arch {args.arch})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
