#!/usr/bin/env python
"""Write scikit-learn's handwritten digits as a class-per-folder dataset.

``mmlcnetv2 make-digits``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.datasets.generate.digits`.
"""
import sys

from mmlcnetv2.datasets.generate.digits import main

if __name__ == '__main__':
    sys.exit(main())
