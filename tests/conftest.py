"""Test setup: the clone's ``codes/`` as the package ``tecogan``; locate ``../shared``.

Tests use a fixed thread count (2) so that float32 summation orders do not depend on the
machine's core count (see tests/README.md for the golden tolerance rule).

upscale.py and the API default to ``precision auto``, whose choice depends on the CPU; the suite
pins their default to fp32 ($TECOGAN_PRECISION, inherited by the commands tests start) so that
the exactness tests mean the same on every machine.  tests/test_precision_auto.py checks the
auto default itself (with the variable removed).
"""
import os
import runpy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ["TECOGAN_PRECISION"] = "fp32"
runpy.run_path(str(REPO / "codes" / "_clone.py"))  # the clone's code, installed or not

os.environ.setdefault("OMP_NUM_THREADS", "2")

import torch  # noqa: E402

torch.set_num_threads(2)

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


@pytest.fixture(scope="session")
def ckpt(tmp_path_factory):
    """A small random FRNet (nf 8, nb 1, BD) saved as a published-style checkpoint (a Path);
    tests that change the file copy it first."""
    from helpers import save_tiny_generator
    return save_tiny_generator(tmp_path_factory.mktemp("ck"), "tiny_BD.pth")[0]


@pytest.fixture
def tiny():
    """The same small FRNet in memory (seed 0, eval mode)."""
    from tecogan.networks.frnet import FRNet
    torch.manual_seed(0)
    return FRNet(nf=8, nb=1).eval()


@pytest.fixture
def flags(monkeypatch):
    """``flags(sample)`` makes the precision code see the CPU flag set ``sample`` (helpers.AVX2,
    ZEN4 ...), oneDNN uncapped; returns the set."""
    from tecogan.inference import auto, precision
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def use(sample):
        monkeypatch.setattr(precision, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(auto, "cpu_flags", lambda: set(sample))
        return set(sample)
    return use


@pytest.fixture(autouse=True, scope="session")
def _openvino_cache(tmp_path_factory):
    """Converted OpenVINO models are cached in a session folder, never in the user's ~/.cache."""
    os.environ["TECOGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("openvino_cache"))
    yield


def pytest_collection_modifyitems(config, items):
    """Tests that run the OpenVINO backend in this process go last: OpenVINO's thread pool
    does not survive fork(), so a DataLoader worker forked after it (test_train_datasets) can
    crash. No command of the project mixes the two (training never loads OpenVINO)."""
    items.sort(key=lambda item: item.path.name in ("test_inference_backends.py", "test_inference_settings.py"))
