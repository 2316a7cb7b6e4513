#!/usr/bin/env python
"""Save a re-parameterized (fused) checkpoint of a config's model.

``mmlcnetv2 reparameterize``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.reparameterize`.
"""
import sys

from mmlcnetv2.commands.reparameterize import main

if __name__ == '__main__':
    sys.exit(main())
