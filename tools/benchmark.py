#!/usr/bin/env python
"""CPU latency of our PP-LCNetV2 exports against PaddleClas's own models and
the usual detectors, with OpenVINO (and torch eager), in one command.

The code is the checkout's ``benchmarks/`` (research, not installed with the
package): :mod:`benchmarks.cli`, which ``mmlcnetv2 benchmark`` runs too from
the checkout's root. ``--help`` lists the options and examples.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.cli import main  # noqa: E402  (the checkout's benchmarks/)

if __name__ == '__main__':
    sys.exit(main())
