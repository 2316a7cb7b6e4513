#!/usr/bin/env python
"""Write the shapes detection dataset (COCO format).

``mmlcnetv2 make-shapes``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.datasets.generate.shapes`.
"""
import sys

from mmlcnetv2.datasets.generate.shapes import main

if __name__ == '__main__':
    sys.exit(main())
