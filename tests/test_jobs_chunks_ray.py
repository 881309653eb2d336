"""``--ray ADDRESS`` (issue 35): a chunked job on a Ray cluster that the test starts on 127.0.0.1
(``ray start --head --block`` in a session of its own, ended by its process group), compared with
the single-machine ``--scene_cuts on`` run; a ``--batch`` on the cluster (files whole, or in
chunks) compared with the plain batch.  Slow: CI runs it with ``pytest -m slow``."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import pytest
from avclips import decode_rgb, make_clip, video_times
from helpers import save_tiny_generator, tree_hash
from test_jobs_chunks import CHUNKED, SHOTS, same_frames, scenes

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


def _batch_inputs(folder):
    """A clip of one shot, a folder of frames, a clip of four shots (chunked) and a broken file."""
    os.makedirs(folder / "b")
    make_clip(folder / "a.mp4", scenes((6,)), rate=12)
    for i, image in enumerate(scenes((0, 5))):
        cv2.imwrite(str(folder / "b" / f"f{i:03d}.png"), image[..., ::-1])
    make_clip(folder / "c.mp4", scenes(SHOTS), rate=12)
    (folder / "d.mp4").write_bytes(b"not a video at all" * 10)


def _summary(stdout):
    return [line for line in stdout.splitlines() if "summary:" in line][-1].split("summary: ")[1]


def _same_outputs(one, other):
    """The videos decode to the same frames at the same times; the frame folders hold the same images."""
    for name in ("a.mp4", "c.mp4"):
        assert same_frames(decode_rgb(one / name), decode_rgb(other / name)), name
        assert video_times(one / name) == video_times(other / name), name
    names = sorted(os.listdir(one / "b"))
    assert names == sorted(os.listdir(other / "b")) and len(names) == 5
    assert all(np.array_equal(cv2.imread(str(one / "b" / n)), cv2.imread(str(other / "b" / n))) for n in names)


@pytest.mark.slow
def test_ray_batch_equals_the_plain_batch(tmp_path, cluster):
    """Files whole (--scene_cuts off) and in chunks (on): the outputs, their manifests, a rerun."""
    ckpt = save_tiny_generator(tmp_path)[0]
    inputs = tmp_path / "in"
    _batch_inputs(inputs)
    for cuts, options in (("on", CHUNKED), ("off", ["--scene_cuts", "off", "--segment_frames", "4"])):
        plain, spread = tmp_path / f"plain_{cuts}", tmp_path / f"ray_{cuts}"
        spread.mkdir()
        (spread / "notes.txt").write_text("not an output of the batch")
        before = tree_hash(inputs), tree_hash(ckpt), tree_hash(spread / "notes.txt")
        upscale = [sys.executable, os.path.join(REPO, "codes", "upscale.py"), "--batch", inputs, "--model", ckpt,
                   "--device", "cpu", "--threads", "1", *options]

        def run(*args, upscale=upscale):
            return subprocess.run([*upscale, *args], capture_output=True, text=True, env=ENV, timeout=600)
        r = run("-o", plain, "--quiet")
        assert r.returncode == 1 and _summary(r.stdout) == "3 done, 0 skipped, 1 failed", r.stderr
        r = run("-o", spread, "--ray", cluster, "--lease", "5")
        assert r.returncode == 1 and _summary(r.stdout) == "3 done, 0 skipped, 1 failed", (r.stdout, r.stderr)
        failed = [line for line in r.stderr.splitlines() if "FAILED" in line]
        assert len(failed) == 1 and "d.mp4" in failed[0] and "Traceback" not in r.stderr, r.stderr
        assert "4 files submitted" in r.stdout and "left" in r.stdout, r.stdout  # the batch's progress, time left
        assert ("4 in chunks" if cuts == "on" else "4 whole") in r.stdout, r.stdout
        if cuts == "on":
            assert "4 chunks of 34 frames" in r.stdout and "34 frames from 4 chunks" in r.stdout, r.stdout
        _same_outputs(plain, spread)
        assert sorted(os.listdir(spread)) == sorted(["notes.txt", "a.mp4", "b", "c.mp4", ".a.mp4.tecogan.json",
                                                     ".b.tecogan.json", ".c.mp4.tecogan.json"])  # no job folders
        assert (tree_hash(inputs), tree_hash(ckpt), tree_hash(spread / "notes.txt")) == before
        made = tree_hash(spread)
        for extra in (["--ray", cluster], []):  # a rerun, on the cluster or not, skips what is complete
            r = run("-o", spread, "--quiet", *extra)
            assert r.returncode == 1 and _summary(r.stdout) == "0 done, 3 skipped, 1 failed", (r.stdout, r.stderr)
        assert tree_hash(spread) == made
