"""Test setup: the clone's ``codes/`` as the package ``tecogan``; locate ``../shared``.

Tests use a fixed thread count (2) so that float32 summation orders do not depend on the
machine's core count (see tests/README.md for the golden tolerance rule), and passive OpenMP waiting.

upscale.py and the API default to ``precision auto``, whose choice depends on the CPU; the suite
pins their default to fp32 ($TECOGAN_PRECISION, inherited by the commands tests start) so that
the exactness tests mean the same on every machine.  tests/test_inference_auto.py checks the
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
# OpenMP threads that wait passively (set before torch loads libgomp; inherited by the commands the
# tests start): with the default spin-waiting, two threads on a shared, busy 2-core machine made a
# tiny FRNet step 1 s instead of 20 ms.  Results are unchanged (only how idle threads wait).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
def alexnet_file(shared_dir):
    """LPIPS's AlexNet features from ../shared (a path string)."""
    path = shared_dir / "weights" / "alexnet_imagenet_features.pth"
    assert path.is_file(), f"{path} is missing from ../shared"
    return str(path)


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
def upscale(capsys, monkeypatch):
    """upscale.py in this process: (status, stdout, stderr); a status other than 0 fails unless check=False."""
    from helpers import upscale_in_process

    def run(*args, check=True):
        status, out, err = upscale_in_process(capsys, monkeypatch, *args)
        assert status == 0 or not check, err
        return status, out, err

    return run


@pytest.fixture
def in_process_capture(capsys, monkeypatch):
    """helpers.CAPTURE holds this test's capsys and monkeypatch (commands run in this process)."""
    import helpers

    helpers.CAPTURE.update(capsys=capsys, monkeypatch=monkeypatch)
    yield
    helpers.CAPTURE.clear()


@pytest.fixture
def flags(monkeypatch):
    """``flags(sample)`` makes the precision code see the CPU flag set ``sample`` (helpers.AVX2,
    ZEN4 ...), oneDNN uncapped, and OpenVINO hidden from auto (auto on AVX2: fp32 through torch;
    auto with OpenVINO per CPU class: test_inference_cpu_classes.py); returns the set."""
    from tecogan.errors import UserError
    from tecogan.inference import auto, precision

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def no_openvino(backend, device):
        if backend == "openvino":
            raise UserError("backend openvino: the openvino package is not importable")

    def use(sample):
        monkeypatch.setattr(precision, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(auto, "cpu_flags", lambda: set(sample))
        monkeypatch.setattr(auto, "check_backend", no_openvino)
        return set(sample)

    return use


@pytest.fixture
def frames_dir(tmp_path):
    """A folder holding one black 12x16 PNG frame."""
    import cv2
    import numpy as np

    os.makedirs(tmp_path / "in")
    cv2.imwrite(str(tmp_path / "in" / "0000.png"), np.zeros((12, 16, 3), np.uint8))
    return tmp_path / "in"


@pytest.fixture(autouse=True)
def _torch_threads():
    """Every test starts with the suite's 2 torch threads: a command run in this process sets its
    own (``--threads``), and under pytest-xdist the tests a worker ran before vary from run to run
    (a resumed job compares its thread count with the killed run's)."""
    yield
    if torch.get_num_threads() != 2:
        torch.set_num_threads(2)


@pytest.fixture(autouse=True, scope="session")
def _openvino_cache(tmp_path_factory):
    """Converted OpenVINO models are cached in a session folder, never in the user's ~/.cache."""
    os.environ["TECOGAN_CACHE_DIR"] = str(tmp_path_factory.mktemp("openvino_cache"))
    yield


# ------------------------------------------------------------------ OpenVINO in a child process ----
# OpenVINO's runtime (its TBB thread pool, NNCF's threads) must never be loaded in the pytest
# process: every later fork() (a DataLoader worker, subprocess's fork_exec with a preexec_fn, a
# multiprocessing child) then copies a process whose pool threads are gone, and a crash there
# (exit 139) took the whole suite down.  Tests that load OpenVINO carry the marker ``openvino``
# (a module sets ``pytestmark``); the selected ones of each file run in one child pytest, started
# from a process that has not loaded OpenVINO, and their reports are replayed here.  A child that
# crashes fails only its own tests.  Any other test that loads OpenVINO in this process fails.
CHILD = "TECOGAN_TEST_CHILD"
_children = {}  # nodeid -> _ChildRun


def pytest_configure(config):
    config.addinivalue_line("markers", "openvino: loads OpenVINO; runs in a child pytest process (conftest.py)")


class _ChildRun:
    """The selected ``openvino`` tests of one file, run together in a child pytest.  A child that
    crashes fails the test it was running; the tests after it run in a new child."""

    def __init__(self, config, nodeids):
        self.config, self.nodeids, self.reports = config, nodeids, None

    def _child(self, nodeids):
        import json
        import subprocess
        import sys
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tecogan_child_") as tmp:
            out = os.path.join(tmp, "reports.jsonl")
            cmd = [
                sys.executable,
                "-X",
                "faulthandler",
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                self.config.option.markexpr or "",
                "--rootdir",
                str(REPO),
                "-c",
                str(REPO / "pytest.ini"),
                *nodeids,
            ]
            proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, **{CHILD: out}), capture_output=True, text=True)
            reports = {}
            if os.path.exists(out):
                with open(out) as f:
                    for line in f:
                        report = self.config.hook.pytest_report_from_serializable(config=self.config, data=json.loads(line))
                        reports.setdefault(report.nodeid, []).append(report)
        return reports, proc.returncode, proc.stdout + proc.stderr

    def run(self):
        from _pytest.reports import TestReport

        self.reports, pending = {}, list(self.nodeids)
        while pending:
            got, status, output = self._child(pending)
            self.reports.update(got)
            rest = [n for n in pending if not (n in got and got[n][-1].when == "teardown")]
            if not rest:
                break
            partial = [n for n in rest if n in got]
            culprits = partial[:1] or rest[:1] if got else rest  # no progress at all: give up on the rest
            for nodeid in culprits:
                done = self.reports.get(nodeid, [])
                when = "call" if any(r.when == "setup" and r.passed for r in done) else "setup"
                why = (
                    f"the child pytest running this file's OpenVINO tests ended with status {status} "
                    f"during this test; its output ends:\n{output[-6000:]}"
                )
                location = done[0].location if done else (nodeid.split("::")[0], None, nodeid)
                self.reports[nodeid] = done + [TestReport(nodeid, location, {}, "failed", why, when)]
            pending = [n for n in rest if n not in culprits]

    def replay(self, item):
        if self.reports is None:
            self.run()
        return self.reports[item.nodeid]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    child = _children.get(item.nodeid)
    if child is None:
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in child.replay(item):
        item.ihook.pytest_runtest_logreport(report=report)
    # what the skipped protocol would have done: tear down what the next test does not share (the
    # module of this file's earlier tests, when this one ran in the child)
    item.session._setupstate.teardown_exact(nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_runtest_logreport(report):
    """In the child: each report, serialised, for the parent to replay."""
    path = os.environ.get(CHILD)
    if path and _config is not None:
        import json

        data = _config.hook.pytest_report_to_serializable(config=_config, report=report)
        with open(path, "a") as f:
            f.write(json.dumps(data) + "\n")


_config = None


def pytest_sessionstart(session):
    global _config
    _config = session.config


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Outside the child, a test that loads OpenVINO without the marker fails (see above)."""
    import sys

    loaded = "openvino" in sys.modules
    result = yield
    if not loaded and "openvino" in sys.modules and not os.environ.get(CHILD):
        raise AssertionError(
            "this test loaded OpenVINO in the pytest process; mark it (or its module) "
            "pytest.mark.openvino so that it runs in a child process (tests/conftest.py)"
        )
    return result


def pytest_collection_modifyitems(config, items):
    if os.environ.get(CHILD):
        return
    groups = {}
    for item in items:
        if item.get_closest_marker("openvino"):
            groups.setdefault(item.path, []).append(item)
    for group in groups.values():
        child = _ChildRun(config, [item.nodeid for item in group])
        for item in group:
            _children[item.nodeid] = child
