import os
import sys

import pytest
import torch

# Make `tools/` importable for tests of the command-line tools.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

torch.set_num_threads(2)


@pytest.fixture
def seed():
    torch.manual_seed(0)
