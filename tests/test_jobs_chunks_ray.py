"""``--ray ADDRESS`` (issue 35): a chunked job on a Ray cluster that the test starts on 127.0.0.1
(``ray start --head --block`` in a session of its own, ended by its process group), compared with
the single-machine ``--scene_cuts on`` run; a ``--batch`` on the cluster (files whole, or in
chunks) compared with the plain batch.  Slow: CI runs them with ``pytest -m slow``.  The batch's
driver also runs, fast, with a stand-in for ray that runs each task at once in the test's process."""

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
from helpers import save_tiny_generator, tree_hash, upscale_in_process
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
    head = subprocess.Popen(
        [
            ray,
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--num-gpus",
            "0",
            "--include-dashboard",
            "false",
            "--temp-dir",
            temp,
            "--disable-usage-stats",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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
    r = subprocess.run(
        [*upscale, clip, tmp_path / "one.mkv", *base, "--quiet"], capture_output=True, text=True, env=ENV, timeout=600
    )
    assert r.returncode == 0, r.stderr
    out = tmp_path / "ray.mkv"
    r = subprocess.run(
        [*upscale, clip, out, *base, "--ray", cluster, "--lease", "5"], capture_output=True, text=True, env=ENV, timeout=600
    )
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
        upscale = [
            sys.executable,
            os.path.join(REPO, "codes", "upscale.py"),
            "--batch",
            inputs,
            "--model",
            ckpt,
            "--device",
            "cpu",
            "--threads",
            "1",
            *options,
        ]

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
        assert sorted(os.listdir(spread)) == sorted(
            ["notes.txt", "a.mp4", "b", "c.mp4", ".a.mp4.tecogan.json", ".b.tecogan.json", ".c.mp4.tecogan.json"]
        )  # no job folders
        assert (tree_hash(inputs), tree_hash(ckpt), tree_hash(spread / "notes.txt")) == before
        made = tree_hash(spread)
        for extra in (["--ray", cluster], []):  # a rerun, on the cluster or not, skips what is complete
            r = run("-o", spread, "--quiet", *extra)
            assert r.returncode == 1 and _summary(r.stdout) == "0 done, 3 skipped, 1 failed", (r.stdout, r.stderr)
        assert tree_hash(spread) == made


class _Ref:
    """A finished task's result (hashable, as Ray's object refs are)."""

    def __init__(self, value):
        self.value = value


class _Task:
    """``ray.remote(...)(function)``: ``.remote(step, ...)`` runs it now and notes the step."""

    def __init__(self, fake, function):
        self.fake, self.function = fake, function

    def remote(self, *args):
        self.fake.steps.append(args[0])
        return _Ref(self.function(*args))


class _InlineRay:
    """A stand-in for the ray module: every task runs when submitted, in this process (one worker
    process for the whole batch)."""

    class exceptions:  # noqa: N801 - the module's name
        class RayError(Exception):
            pass

    def __init__(self, cpus=2.0):
        self.steps, self.cpus = [], cpus

    def init(self, **_options):
        pass

    def nodes(self):
        return [{"Alive": False, "Resources": {"CPU": 64.0}}, {"Alive": True, "Resources": {"CPU": self.cpus}}]

    def shutdown(self):
        pass

    def remote(self, **_resources):
        return lambda function: _Task(self, function)

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return ref.value


def test_a_task_no_node_can_run_is_one_line_not_a_wait(tmp_path, capsys, monkeypatch):
    """Ray waits for ever for a node with the resources a task asks; the command refuses at once."""
    from tecogan import upscale
    from tecogan.jobs import ray_batch, ray_runner

    ckpt = save_tiny_generator(tmp_path)[0]
    inputs = tmp_path / "in"
    _batch_inputs(inputs)
    before = tree_hash(inputs), tree_hash(ckpt)
    monkeypatch.setattr(upscale, "check_ray_address", lambda _address: None)
    for module in (ray_batch, ray_runner):
        monkeypatch.setattr(module, "import_ray", lambda: _InlineRay(cpus=2.0))
    base = ["--model", ckpt, "--device", "cpu", "--threads", "1", *CHUNKED, "--ray", "auto", "--ray_cpus", "3"]
    message = (
        "--ray_cpus 3 --ray_gpus 0: no node of the Ray cluster at auto has that much (the largest of its 1 node(s): "
        "2 CPUs, 0 GPUs)"
    )
    for args in ([inputs / "c.mp4", tmp_path / "out.mp4"], ["--batch", inputs, "-o", tmp_path / "out"]):
        status, _, err = upscale_in_process(capsys, monkeypatch, *args, *base)
        errors = [line for line in err.splitlines() if not line.startswith("warning:")]  # the tiny BD model's
        assert status == 2 and len(errors) == 1 and message in errors[0], err
    assert sorted(os.listdir(tmp_path)) == sorted(["in", os.path.basename(ckpt)])  # no output, no job folder
    assert (tree_hash(inputs), tree_hash(ckpt)) == before


def test_ray_batch_driver_loads_the_model_once_per_worker_process(tmp_path, capsys, monkeypatch):
    from tecogan import upscale
    from tecogan.jobs import ray_batch, ray_runner

    ckpt = save_tiny_generator(tmp_path)[0]
    inputs = tmp_path / "in"
    _batch_inputs(inputs)
    fake, loads = _InlineRay(), []
    real = ray_runner.generator_from_checkpoint
    monkeypatch.setattr(ray_runner, "generator_from_checkpoint", lambda *a, **k: loads.append(a) or real(*a, **k))
    monkeypatch.setattr(ray_runner, "_UPSCALERS", {})
    monkeypatch.setattr(ray_runner, "_JOBS", {})
    monkeypatch.setattr(ray_batch, "import_ray", lambda: fake)
    monkeypatch.setattr(upscale, "check_ray_address", lambda _address: None)
    base = ["--batch", inputs, "--model", ckpt, "--device", "cpu", "--threads", "1", *CHUNKED]
    status, out, err = upscale_in_process(capsys, monkeypatch, *base, "-o", tmp_path / "plain", "--quiet")
    assert status == 1 and _summary(out) == "3 done, 0 skipped, 1 failed", err
    status, out, err = upscale_in_process(capsys, monkeypatch, *base, "-o", tmp_path / "ray", "--ray", "auto")
    assert status == 1 and _summary(out) == "3 done, 0 skipped, 1 failed", err
    assert len(loads) == 1  # one model for the 3 first passes, the 6 chunks and the 3 assemblies
    assert sorted(fake.steps) == sorted(["setup"] * 4 + ["chunk"] * 6 + ["assemble"] * 3), fake.steps
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "[4/4]" in failed[0] and "d.mp4" in failed[0], err
    assert "batch: 3 of 4 files done, 1 failed, 45 of 45 frames" in out, out
    _same_outputs(tmp_path / "plain", tmp_path / "ray")
    made = tree_hash(tmp_path / "ray")
    status, out, err = upscale_in_process(capsys, monkeypatch, *base, "-o", tmp_path / "ray", "--ray", "auto")
    assert status == 1 and _summary(out) == "0 done, 3 skipped, 1 failed", err
    assert tree_hash(tmp_path / "ray") == made
    fake.steps.clear()
    status, out, err = upscale_in_process(
        capsys, monkeypatch, *base, "--scene_cuts", "off", "-o", tmp_path / "whole", "--ray", "auto"
    )
    assert status == 1 and _summary(out) == "3 done, 0 skipped, 1 failed", err
    assert fake.steps == ["whole"] * 4 and len(loads) == 1  # whole files: the same worker's model


def test_a_rerun_whole_file_task_waits_for_the_lock_of_its_dead_try(tmp_path, capsys, monkeypatch):
    """Ray reruns a task whose node was lost; the job's lock its first try held is freed late (NFS):
    the rerun waits for it (up to two leases), then makes the file."""
    import threading

    from tecogan import upscale
    from tecogan.jobs import ray_batch
    from tecogan.jobs.job_folder import JobFolder

    ckpt = save_tiny_generator(tmp_path)[0]
    (tmp_path / "in").mkdir()
    make_clip(tmp_path / "in" / "a.mp4", scenes((6,)), rate=12)
    monkeypatch.setattr(ray_batch, "import_ray", _InlineRay)
    monkeypatch.setattr(upscale, "check_ray_address", lambda _address: None)
    held = JobFolder(tmp_path / "out" / "a.mp4").lock()  # the dead try's
    later = threading.Timer(1.5, held.unlock)
    later.start()
    try:
        status, out, err = upscale_in_process(
            capsys,
            monkeypatch,
            "--batch",
            tmp_path / "in",
            "-o",
            tmp_path / "out",
            "--model",
            ckpt,
            "--device",
            "cpu",
            "--ray",
            "auto",
            "--lease",
            "3",
        )
    finally:
        later.join()
    assert status == 0 and _summary(out) == "1 done, 0 skipped, 0 failed", err
    assert len(decode_rgb(tmp_path / "out" / "a.mp4")) == 6


@pytest.mark.slow
def test_ctrl_c_on_the_driver_releases_the_chunks_leases(tmp_path, cluster):
    """Ctrl-C on a --ray driver: its tasks are cancelled and release their chunks' leases, so the
    same command continues at once (before, Ray killed them at shutdown with the leases held, and a
    rerun waited for each to expire)."""
    clip = tmp_path / "in.mp4"
    make_clip(clip, scenes((40, 40), h=96, w=128), rate=12)
    out = tmp_path / "ray.mkv"
    cmd = [sys.executable, os.path.join(REPO, "codes", "upscale.py"), clip, out, "--model", "frvsr", "--precision", "fp32"]
    cmd += ["--device", "cpu", "--threads", "1", "--scene_cuts", "on", "--chunk_frames", "40", "--segment_frames", "4"]
    driver = subprocess.Popen(
        [*cmd, "--ray", cluster, "--lease", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )

    def leases():
        folder = job_path(out)
        return [n for n in os.listdir(folder) if n.startswith("c") and n.endswith(".lease")] if os.path.isdir(folder) else []

    deadline = time.monotonic() + 180
    while not leases():  # a task holds a chunk: interrupt it mid-chunk
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
        time.sleep(0.2)
    time.sleep(1)
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 130 and "interrupted by SIGINT" in err, err
    assert leases() == []
    assert not os.path.exists(out)
