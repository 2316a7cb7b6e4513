# Copyright (c) mmlcnetv2 contributors. Licensed under the Apache License 2.0.
"""``python -m mmlcnetv2 COMMAND ...``: the same as ``mmlcnetv2 COMMAND``."""
import sys

from .cli.main import main

sys.exit(main())
