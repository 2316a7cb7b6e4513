#!/usr/bin/env python
"""Evaluate a checkpoint of any config with mmengine's Runner.

``mmlcnetv2 test``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.test`.
"""
import sys

from mmlcnetv2.commands.test import main

if __name__ == '__main__':
    sys.exit(main())
