#!/usr/bin/env python
"""Convert PP-LCNetV2 weights (PaddleClas, timm / Hugging Face) to ours.

``mmlcnetv2 convert``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.convert`.
"""
import sys

from mmlcnetv2.commands.convert import main

if __name__ == '__main__':
    sys.exit(main())
