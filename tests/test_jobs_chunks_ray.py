"""``--ray ADDRESS`` (issue 35): a chunked job on a Ray cluster that the test starts on 127.0.0.1
(``ray start --head --block`` in a session of its own, ended by its process group), compared with
the single-machine ``--scene_cuts on`` run.  Slow: CI runs it with ``pytest -m slow``."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from avclips import decode_rgb, make_clip, video_times
from helpers import save_tiny_generator, tree_hash
from test_jobs_chunks import CHUNKED, SHOTS, scenes

from tecogan.jobs.job_folder import job_path

pytest.importorskip("ray", reason="ray is an optional dependency (requirements.txt installs it for the tests)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    """A one-node Ray cluster of 2 CPUs on 127.0.0.1: its address; stopped afterwards (only the
    processes this test started: the process group of `ray start --block`)."""
    ray = shutil.which("ray", path=BIN)
    if ray is None:
        pytest.fail("the ray command is missing beside this Python (requirements.txt installs ray)")
    port, temp = _free_port(), tempfile.mkdtemp(prefix="tr", dir="/tmp")
    head = subprocess.Popen([ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
                             "--num-cpus", "2", "--num-gpus", "0", "--include-dashboard", "false", "--temp-dir", temp,
                             "--disable-usage-stats"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
                time.sleep(1)
        time.sleep(3)  # the raylet registers after the GCS port opens
        yield f"127.0.0.1:{port}"
    finally:
        try:
            os.killpg(head.pid, signal.SIGTERM)
            head.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_ray_run_equals_the_single_machine_run(tmp_path, cluster):
    ckpt = save_tiny_generator(tmp_path)[0]
    clip = tmp_path / "in.mp4"
    make_clip(clip, scenes(SHOTS), rate=12)
    before = tree_hash(clip), tree_hash(ckpt)
    base = ["--model", ckpt, "--device", "cpu", "--threads", "1", *CHUNKED, "--codec", "ffv1"]
    upscale = [sys.executable, os.path.join(REPO, "codes", "upscale.py")]
    r = subprocess.run([*upscale, clip, tmp_path / "one.mkv", *base, "--quiet"], capture_output=True, text=True,
                       env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "ray.mkv"
    r = subprocess.run([*upscale, clip, out, *base, "--ray", cluster, "--lease", "5"], capture_output=True, text=True,
                       env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "4 of 4 chunks submitted" in r.stdout and "frames assembled from 4 chunks" in r.stdout, r.stdout
    assert "left" in r.stdout  # the job's progress with the time left
    got, want = decode_rgb(out), decode_rgb(tmp_path / "one.mkv")
    assert len(got) == sum(SHOTS) and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert video_times(out) == video_times(tmp_path / "one.mkv")
    assert (tree_hash(clip), tree_hash(ckpt)) == before and not os.path.exists(job_path(out))
