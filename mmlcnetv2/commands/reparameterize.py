# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""Save a re-parameterized (fused) checkpoint of a config's model.

    mmlcnetv2 reparameterize configs/cls/pplcnetv2-base_8xb256_in1k.py \
        pplcnetv2-base.pth pplcnetv2-base_deploy.pth

The output loads with ``strict=True`` into the config's deploy variant
(``model = dict(backbone=dict(deploy=True))``, e.g.
``configs/cls/deploy/pplcnetv2-base_deploy_8xb256_in1k.py``). An ``out``
that is the checkpoint or the config (a link to one too) is refused with
exit status 2: nothing is written.
"""
import argparse

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the unfused (training) config')
    parser.add_argument('checkpoint', help='an unfused checkpoint of it')
    parser.add_argument('out', help='where to write the fused checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    # After parsing: torch and mmengine's runner would make --help take s.
    import torch

    from mmlcnetv2.apis import build_model, load_config, prepare_for_export
    from mmlcnetv2.apis.build import reparameterizable
    from mmlcnetv2.cli import bad_input
    from mmlcnetv2.utils.atomic import atomic_file
    from mmlcnetv2.utils.outputs import check_output_file
    try:
        # Before the model is built: the training checkpoint must survive.
        check_output_file(args.out, 'out', [args.checkpoint, args.config],
                          example='model.pth')
        cfg = load_config(args.config, args.cfg_options)
        model = build_model(cfg, args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        # Bad input, named; ValueError covers UnsafeCheckpointError (a
        # checkpoint that safe loading refused) and CheckpointMismatchError
        # (one that does not fit the config).
        return bad_input(e)
    if not reparameterizable(model):
        return bad_input(f'nothing in {args.config} can be re-parameterized '
                         '(no module has switch_to_deploy)')
    model = prepare_for_export(model)
    with atomic_file(args.out) as tmp:
        torch.save(dict(state_dict=model.state_dict(),
                        meta=dict(reparameterized_from=args.checkpoint)), tmp)
    print(f'wrote {args.out}: fused, loads into the deploy variant of '
          f'{args.config}')
    return 0

