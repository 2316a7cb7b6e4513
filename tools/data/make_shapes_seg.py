#!/usr/bin/env python
"""Write the shapes segmentation dataset (image + PNG mask folders).

``mmlcnetv2 make-shapes-seg``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.datasets.generate.shapes_seg`.
"""
import sys

from mmlcnetv2.datasets.generate.shapes_seg import main

if __name__ == '__main__':
    sys.exit(main())
