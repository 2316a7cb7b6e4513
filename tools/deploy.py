#!/usr/bin/env python
"""Export an OpenMMLab config + checkpoint to OpenVINO IR (and ONNX).

``mmlcnetv2 deploy``, kept as a script for OpenMMLab habits: the same
arguments (``--help``), the same code:
:mod:`mmlcnetv2.commands.deploy`.
"""
import sys

from mmlcnetv2.commands.deploy import main

if __name__ == '__main__':
    sys.exit(main())
