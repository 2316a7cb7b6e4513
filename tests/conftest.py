import os
import sys

import pytest
import torch

# Make `tools/` importable for tests of the command-line tools.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from mmlcnetv2.utils.denormals import configure_denormals  # noqa: E402

# Before any parallel op, as the tools do: the fixtures that train in this
# process would otherwise crawl on Intel CPUs (see utils/denormals.py).
configure_denormals()
torch.set_num_threads(2)


@pytest.fixture
def seed():
    torch.manual_seed(0)
