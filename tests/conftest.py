"""Test setup: put ``codes/`` and ``tests/`` on sys.path; locate ``../shared``."""
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
for p in (REPO / "codes", REPO / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

os.environ.setdefault("OMP_NUM_THREADS", "2")

DATA = REPO / "tests" / "data"
GOLDEN_NPZ = DATA / "reference_seed0.npz"


@pytest.fixture(scope="session")
def repo_dir():
    return REPO


@pytest.fixture(scope="session")
def shared_dir():
    """<repo>/../shared; tests needing it skip only when it is absent."""
    path = REPO.parent / "shared"
    if not path.is_dir():
        pytest.skip("../shared is not present beside the repository")
    return path


@pytest.fixture(scope="session")
def golden():
    import numpy as np
    return np.load(GOLDEN_NPZ)
