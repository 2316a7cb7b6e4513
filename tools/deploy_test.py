#!/usr/bin/env python
"""Evaluate an export of tools/deploy.py on the config's test set.

``mmlcnetv2 deploy-test``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.deploy_test`.
"""
import sys

from mmlcnetv2.commands.deploy_test import main

if __name__ == '__main__':
    sys.exit(main())
