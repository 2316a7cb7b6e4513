#!/usr/bin/env python
"""Train any config of this project with mmengine's Runner.

``mmlcnetv2 train``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.train`.
"""
import sys

from mmlcnetv2.commands.train import main

if __name__ == '__main__':
    sys.exit(main())
