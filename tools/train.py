#!/usr/bin/env python
"""Train any config of this project with mmengine's Runner.

``mmlcnetv2 train``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code (:mod:`mmlcnetv2.cli.train`).
"""
import sys

from mmlcnetv2.cli.train import main

if __name__ == '__main__':
    sys.exit(main())
