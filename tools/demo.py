#!/usr/bin/env python
"""The main demo: detect shapes with the PicoDet-style PP-LCNetV2 detector.

``mmlcnetv2 demo``, kept as a script for OpenMMLab habits (``make demo``
runs it): the same arguments (``--help``), the same code
(:mod:`mmlcnetv2.commands.demo`), with the default folders under this checkout
(``data/shapes``, ``work_dirs/``, ``docs/demo``) wherever it is run from.
"""
import os.path as osp
import sys

from mmlcnetv2.commands.demo import main

CHECKOUT = osp.dirname(osp.dirname(osp.abspath(__file__)))

if __name__ == '__main__':
    sys.exit(main(root=CHECKOUT, prog='tools/demo.py'))
