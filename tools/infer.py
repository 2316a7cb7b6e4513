#!/usr/bin/env python
"""Run an export of tools/deploy.py on images and draw the results.

``mmlcnetv2 infer``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.infer`.
"""
import sys

from mmlcnetv2.commands.infer import main

if __name__ == '__main__':
    sys.exit(main())
