#!/usr/bin/env python
"""The main demo (until the detection demo replaces it): for every arch,
build the classifier, re-parameterize it, and print params, FLOPs and the
fused-vs-unfused difference of the logits.

    make demo    # or: .venv/bin/python tools/demo.py
"""
import os.path as osp
import sys
import time

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmlcnetv2.apis import build_model, load_config, reparameterize
from mmlcnetv2.apis.complexity import count_flops, count_params

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'cls', 'pplcnetv2-{}_8xb256_in1k.py')


def randomize_bn(model: torch.nn.Module) -> None:
    """Untrained BN layers are identities; random statistics make the
    fused-vs-unfused comparison mean something."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def main() -> int:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 224, 224)
    rows = []
    for arch in ('small', 'base', 'large'):
        start = time.time()
        model = build_model(load_config(CONFIG.format(arch)))
        randomize_bn(model)
        with torch.no_grad():
            before = model(x)
        params = count_params(model)
        flops = count_flops(model, (224, 224))
        reparameterize(model)
        with torch.no_grad():
            after = model(x)
        diff = (after - before).abs().max().item()
        rel = diff / before.abs().max().item()
        rows.append((arch, params, count_params(model), flops,
                     count_flops(model, (224, 224)), diff, rel,
                     time.time() - start))
    head = (f'{"arch":<6} {"params":>11} {"fused params":>13} '
            f'{"FLOPs":>8} {"fused FLOPs":>12} {"max|fused-unfused|":>19} '
            f'{"relative":>9}')
    print('PP-LCNetV2 classifiers (1000 classes), 224x224, random weights')
    print(head)
    print('-' * len(head))
    for arch, p, fp, f, ff, diff, rel, _ in rows:
        print(f'{arch:<6} {p:>11,} {fp:>13,} {f / 1e6:>7.1f}M '
              f'{ff / 1e6:>11.1f}M {diff:>19.2e} {rel:>9.1e}')
    print('FLOPs: mmengine\'s count (multiply-adds of conv/linear, BN, '
          'pooling). Fused = after switch_to_deploy().')
    worst = max(r[6] for r in rows)
    if worst > 1e-4:
        print(f'FAILED: fused and unfused logits differ by {worst:.1e} '
              '(relative) > 1e-4', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
