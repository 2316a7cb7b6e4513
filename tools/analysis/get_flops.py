#!/usr/bin/env python
"""Print the parameters and FLOPs of a config's model (mmengine's analysis).

    python tools/analysis/get_flops.py configs/cls/pplcnetv2-base_8xb256_in1k.py
    python tools/analysis/get_flops.py CONFIG --deploy --shape 320 320
"""
import argparse
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument(
        '--deploy', action='store_true',
        help='count the re-parameterized (fused) model')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    # After parsing: torch and mmengine's runner would make --help take s.
    from mmlcnetv2.apis import build_model, load_config, reparameterize
    from mmlcnetv2.apis.complexity import count_flops, count_params
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.errors import UserInputError
    if min(args.shape) < 32:
        return bad_input(f'--shape {args.shape} is too small (each side '
                         '>= 32)')
    try:
        cfg = load_config(args.config, args.cfg_options)
    except (FileNotFoundError, UserInputError) as e:
        return bad_input(e)
    model = build_model(cfg)
    if args.deploy:
        reparameterize(model)
    params = count_params(model)
    flops = count_flops(model, tuple(args.shape))
    h, w = args.shape
    print(f'config: {args.config}')
    print(f'model:  {"fused (deploy)" if args.deploy else "as trained"}')
    print(f'input:  1x3x{h}x{w}')
    print(f'params: {params:,} ({params / 1e6:.2f}M)')
    print(f'FLOPs:  {flops / 1e6:.1f}M (multiply-adds of conv/linear, plus '
          'BN and pooling; activations and adds not counted)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
