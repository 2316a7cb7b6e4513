#!/usr/bin/env python
"""Convert PaddleClas PPLCNetV2 ``.pdparams`` to an mmpretrain checkpoint.

    python tools/convert_paddle_weights.py PPLCNetV2_base_pretrained.pdparams \\
        checkpoints/pplcnetv2-base_paddle-in1k.pth --arch base

The same as ``tools/convert_weights.py SRC DST --arch ARCH --from paddle``
(kept so that existing commands work); that tool also reads timm / Hugging
Face files.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from convert_weights import main as _convert_main  # noqa: E402


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return _convert_main(argv + ['--from', 'paddle'])


if __name__ == '__main__':
    sys.exit(main())
