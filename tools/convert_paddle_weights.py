#!/usr/bin/env python
"""Convert PaddleClas PPLCNetV2 ``.pdparams`` to an mmpretrain checkpoint.

    python tools/convert_paddle_weights.py PPLCNetV2_base_pretrained.pdparams \\
        checkpoints/pplcnetv2-base_paddle-in1k.pth --arch base

The same as ``mmlcnetv2 convert SRC DST --arch ARCH --from paddle`` (kept so
that existing commands work); that command also reads timm / Hugging Face
files.
"""
import sys
from typing import Optional, Sequence

from mmlcnetv2.commands import convert


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return convert.main(argv + ['--from', 'paddle'])


if __name__ == '__main__':
    sys.exit(main())
