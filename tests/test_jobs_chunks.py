"""One video in chunks (issue 35): ``--worker``, ``--shard I/N`` on one input, ``--assemble``.

A clip of four shots (cuts found by PySceneDetect) runs as a single-machine ``--scene_cuts on``
job and as a chunked job; the chunked output decodes to the same frames with the same times
(and audio) for every container and codec pair the job writes, and for a folder of PNGs.  Two
worker processes share a job; a worker killed (SIGKILL) mid-chunk leaves its chunk to another
after the lease expires.  The inputs, the model and an old output are hashed before and after.
The lease itself (:mod:`tecogan.utils.leases`) is tested without any upscaling.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from avclips import audio_packets, decode_rgb, make_clip, video_times
from helpers import assert_one_line, save_tiny_generator, tree_hash

from tecogan.jobs.job_folder import JobFolder, job_path
from tecogan.jobs.scene_cuts import ChunkRule, chunk_bounds
from tecogan.utils.leases import Lease

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMP_NUM_THREADS="2")
SHOTS = (8, 9, 8, 9)  # 34 frames; cuts at 8, 17, 25
CHUNKED = ["--scene_cuts", "on", "--chunk_frames", "8", "--segment_frames", "4"]
WRITABLE = {
    ".mp4": ("h264", "h265", "av1", "vp9", "ffv1", "mpeg4"),
    ".mkv": ("h264", "h265", "av1", "vp9", "ffv1", "prores", "mpeg4"),
    ".mov": ("h264", "h265", "prores", "mpeg4"),
    ".webm": ("av1", "vp9"),
    ".avi": ("h264", "av1", "vp9", "ffv1", "mpeg4"),
}
QUICK = {(".mkv", "h264")}


def scenes(lengths, h=16, w=24):
    """Shots of different patterns and colours (a hard cut between each)."""
    yy, xx = np.mgrid[0:h, 0:w]
    colours = [(1, 0.8, 0.6), (0.2, 1, 0.7), (1, 0.3, 0.9), (0.5, 0.5, 1)]
    out = []
    for s, n in enumerate(lengths):
        c = np.array(colours[s % len(colours)])
        for i in range(n):
            if s % 2 == 0:
                base = 120 + 80 * np.sin((xx + 2 * i + 7 * s) / (3.0 + s))[..., None] * np.cos(yy / 5.0)[..., None] * c
            else:
                base = 60 + 120 * (np.sin((yy - i + 3 * s) / (2.0 + s)) > 0)[..., None] * c + 30 * s
            out.append(np.clip(base, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(save_tiny_generator(tmp_path_factory.mktemp("ck"))[0])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    make_clip(path, scenes(SHOTS), rate=12, audio=dict(seconds=sum(SHOTS) / 12))
    return path


def same_frames(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_chunk_rule_groups_short_shots_and_keeps_long_ones():
    assert chunk_bounds([9, 19, 28], 39, 8) == [(0, 9), (9, 19), (19, 28), (28, 39)]
    assert chunk_bounds([9, 19, 28], 39, 15) == [(0, 19), (19, 39)]  # short shots grouped
    assert chunk_bounds([], 1000, 8) == [(0, 1000)]  # one long shot stays one chunk
    rule = ChunkRule(10)  # causal: the streaming run decides each cut as the first pass does
    assert [k for k in (4, 12, 15, 30) if rule.at_cut(k)] == [12, 30]


@pytest.mark.parametrize(
    "ext,codec",
    [
        pytest.param(e, c, id=f"{e[1:]}-{c}", marks=() if (e, c) in QUICK else pytest.mark.slow)
        for e, cs in WRITABLE.items()
        for c in cs
    ],
)
def test_worker_output_equals_the_single_machine_scene_cuts_run(tmp_path, ckpt, clip, upscale, ext, codec):
    before = tree_hash(clip), tree_hash(ckpt)
    base = ["--model", ckpt, "--device", "cpu", "--codec", codec, *CHUNKED, "--quiet"]
    one, out = tmp_path / f"one{ext}", tmp_path / f"chunked{ext}"
    upscale(clip, one, *base)
    _, stdout, _ = upscale(clip, out, *base, "--worker")
    assert "34 frames assembled from 4 chunks" in stdout
    assert not os.path.exists(job_path(out)) and sorted(os.listdir(tmp_path)) == sorted([one.name, out.name])
    assert same_frames(decode_rgb(out), decode_rgb(one)) and len(decode_rgb(out)) == 34
    assert video_times(out) == video_times(one)
    if ext != ".avi":
        assert audio_packets(out) == audio_packets(one)
    assert (tree_hash(clip), tree_hash(ckpt)) == before


def test_frame_folder_output_and_shards_then_assemble(tmp_path, ckpt, clip, upscale):
    """PNG frames; --shard 0/2 leaves the other shard's chunks (--assemble refuses in one line,
    naming them, before any line about the model); --shard 1/2 finishes and assembles."""
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--quiet"]
    upscale(clip, tmp_path / "one", *base)
    out = tmp_path / "out"
    _, stdout, _ = upscale(clip, out, *base, "--shard", "0/2")
    assert "2 of 4 chunks are left" in stdout and not os.path.exists(out)
    kept = tree_hash(job_path(out)), tree_hash(clip)
    status, stdout, err = upscale(clip, out, *base[:-1], "--assemble", check=False)  # not --quiet
    assert_one_line(status, err, "--assemble", "2 of 4 chunks are not done (1, 3)", "--worker")
    assert stdout == "" and len(err.strip().splitlines()) == 1, (stdout, err)  # refused before the model loads
    assert (tree_hash(job_path(out)), tree_hash(clip)) == kept
    upscale(clip, out, *base, "--shard", "1/2")
    assert tree_hash(out) == tree_hash(tmp_path / "one") and len(os.listdir(out)) == 34
    assert not os.path.exists(job_path(out))


def test_a_worker_asking_another_precision_is_refused_naming_both(tmp_path, ckpt, clip, upscale):
    """Every worker asks for the same precision and back-end (auto: each machine picks its own); a
    second worker with another one was accepted and the output mixed precisions."""
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--quiet"]
    out = tmp_path / "out"
    upscale(clip, out, *base, "--precision", "fp32", "--shard", "0/2")
    done = tree_hash(job_path(out))
    status, _, err = upscale(clip, out, *base, "--precision", "auto", "--shard", "1/2", check=False)
    assert_one_line(status, err, "made differently (inference.precision fp32 -> auto)", "same input and options")
    assert tree_hash(job_path(out)) == done and not os.path.exists(out)
    upscale(clip, out, *base, "--precision", "fp32", "--shard", "1/2")
    upscale(clip, tmp_path / "one", *base, "--precision", "fp32")
    assert tree_hash(out) == tree_hash(tmp_path / "one")


def test_a_damaged_done_chunk_is_named_and_made_again(tmp_path, ckpt, clip, upscale):
    """Chunk 0 done by --shard 0/2, then one of its segment files damaged: --shard 1/2 and
    --assemble name it as damaged (not merely "not done"); --shard 0/2 again warns and makes it
    again, and the output equals the single-machine run."""
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--quiet"]
    one, out = tmp_path / "one.mkv", tmp_path / "out.mkv"
    upscale(clip, one, *base)
    upscale(clip, out, *base, "--shard", "0/2")
    seg = os.path.join(job_path(out), "c000000", "seg000000.mkv")
    with open(seg, "r+b") as f:
        f.seek(os.path.getsize(seg) // 2)
        f.write(b"XX")
    _, stdout, _ = upscale(clip, out, *base, "--shard", "1/2")
    assert "1 of 4 chunks are left" in stdout and "chunk 0 of" in stdout and "no longer match" in stdout
    status, _, err = upscale(clip, out, *base, "--assemble", check=False)
    assert_one_line(status, err, "1 of 4 chunks are not done (0)", "chunk 0 of", "changed or damaged")
    _, _, err = upscale(clip, out, *base, "--shard", "0/2")
    assert "warning: chunk 0 was done" in err and "made again from frame 0" in err
    assert same_frames(decode_rgb(out), decode_rgb(one)) and not os.path.exists(job_path(out))


def test_a_plain_run_keeps_an_unfinished_chunked_job(tmp_path, ckpt, clip, upscale):
    """A plain run (with or without --resume, alone or in a batch) over a chunked job refuses in
    one line and leaves its chunks; the chunked command then finishes it."""
    base = ["--model", ckpt, "--device", "cpu", "--codec", "ffv1", *CHUNKED, "--quiet"]
    out = tmp_path / "out.mkv"
    upscale(clip, out, *base, "--shard", "0/2")
    made = tree_hash(job_path(out))
    for extra in ([], ["--resume"]):
        status, _, err = upscale(clip, out, *base, *extra, check=False)
        assert_one_line(status, err, "a chunked job of it is in", "--assemble once its chunks are done", "--overwrite")
        assert tree_hash(job_path(out)) == made
    os.makedirs(tmp_path / "in")
    os.link(clip, tmp_path / "in" / "out.mp4")
    status, _, err = upscale("--batch", tmp_path / "in", "-o", tmp_path, "--batch_ext", ".mkv", *base, check=False)
    assert status == 1 and "a chunked job of it is in" in err and tree_hash(job_path(out)) == made, err
    upscale(clip, out, *base, "--shard", "1/2")
    assert len(decode_rgb(out)) == 34 and not os.path.exists(job_path(out))


def test_bad_arguments_are_one_line_and_touch_nothing(tmp_path, ckpt, clip, upscale):
    old = tmp_path / "old.mkv"
    old.write_bytes(b"an old output")
    before = tree_hash(tmp_path), tree_hash(clip)
    base = ["--model", ckpt, "--device", "cpu", "--quiet"]
    cases = [
        (["--worker"], ["--worker", "needs --scene_cuts on"]),
        (["--worker", "--scene_cuts", "off"], ["--worker", "needs --scene_cuts on"]),
        (["--scene_cuts", "on", "--worker", "--assemble"], ["--worker and --assemble", "choose one"]),
        (["--scene_cuts", "on", "--shard", "2/2"], ["--shard 2/2", "0 <= I < N"]),
        (["--scene_cuts", "on", "--ray", "127.0.0.1:1"], ["--ray 127.0.0.1:1", "no Ray cluster answers"]),
        (["--scene_cuts", "on", "--ray", "nowhere"], ["--ray nowhere", "HOST:PORT"]),
        (["--scene_cuts", "on", "--worker", "--lease", "0"], ["--lease"]),
        (["--scene_cuts", "on", "--worker", "--resume"], ["--resume", "drop --resume"]),
        (["--scene_cuts", "on", "--assemble"], ["--assemble", "no chunked job"]),
        (["--scene_cuts", "on", "--ray", ""], ["--ray ''", "an empty value"]),  # "$UNSET_VAR": not a local run
        (["--scene_cuts", "on", "--shard", " "], ["--shard ' '", "an empty value", "I/N"]),
        (["--batch_ext", ""], ["--batch_ext ''", "an empty value"]),
    ]
    for extra, needles in cases:
        status, _, err = upscale(clip, tmp_path / "new.mkv", *base, *extra, check=False)
        assert_one_line(status, err, *needles)
    status, _, err = upscale(clip, old, *base, "--scene_cuts", "on", "--worker", check=False)
    assert_one_line(status, err, "already exists", "--overwrite")
    assert (tree_hash(tmp_path), tree_hash(clip)) == before


def test_a_single_machine_job_is_not_taken_for_a_chunked_one(tmp_path, ckpt, clip, upscale):
    """Killed single-machine job: --worker refuses it in one line (and keeps it); --resume finishes it."""
    out = tmp_path / "out.mkv"
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--quiet"]
    JobFolder(out).begin({"version": 1, "output": "out.mkv"}, False)  # a job of another kind
    kept = tree_hash(job_path(out))
    status, _, err = upscale(clip, out, *base, "--worker", check=False)
    assert_one_line(status, err, "single-machine job", "--resume")
    assert tree_hash(job_path(out)) == kept


def test_a_worker_that_starts_after_another_finished_the_job_leaves_its_output(tmp_path, ckpt, clip, upscale):
    """A short job can be made whole by one worker while another still loads: the later worker
    (its output checked before) finds no job folder and the output there, and stops at once:
    no second first pass, no second job, the output untouched."""
    import tecogan
    from tecogan.jobs.video_job import prepare_job
    from tecogan.jobs.video_options import VideoOptions
    from tecogan.jobs.workers import work

    out = tmp_path / "out.mkv"
    options = VideoOptions(codec="ffv1", scene_cuts="on", quiet=True)
    late = prepare_job(clip, out, options, model_path=ckpt, segment_frames=4, chunk_frames=8)
    late = dataclasses.replace(late, resume="chunks")  # as upscale.py --worker
    upscale(clip, out, "--model", ckpt, "--device", "cpu", *CHUNKED, "--codec", "ffv1", "--worker", "--quiet")
    made = tree_hash(out)
    lines = []
    net = tecogan.load_generator(ckpt)
    count = work(tecogan.Upscaler(net, device="cpu"), late, report=lines.append, progress=False)
    assert count is None and lines == [f"{out}: assembled by another worker"], lines
    assert tree_hash(out) == made and not os.path.exists(job_path(out))
    assert not any(name.startswith(".out.mkv.") for name in os.listdir(tmp_path)), os.listdir(tmp_path)


def test_a_chunk_asked_for_after_another_worker_assembled_makes_and_leaves_nothing(tmp_path, ckpt, clip, upscale):
    """A --ray task keeps its job set up between chunks: asked for a chunk after another worker made
    the output and removed the job, it made the chunk again in a job folder of its own (left beside
    the output) and the driver then refused to assemble; now it says 'assembled'."""
    import tecogan
    from tecogan.jobs.chunks import ChunkedJob
    from tecogan.jobs.video_job import prepare_job
    from tecogan.jobs.video_options import VideoOptions

    out = tmp_path / "out.mkv"
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--codec", "ffv1", "--quiet"]
    upscale(clip, out, *base, "--shard", "0/2")  # chunks 0 and 2 done
    job = prepare_job(
        clip, out, VideoOptions(codec="ffv1", scene_cuts="on", quiet=True), model_path=ckpt, segment_frames=4, chunk_frames=8
    )
    job = dataclasses.replace(job, resume="chunks")  # as upscale.py --worker
    lines = []
    late = ChunkedJob(tecogan.Upscaler(tecogan.load_generator(ckpt), device="cpu"), job, report=lines.append)
    assert late.setup() is not None and late.pending() == [1, 3]
    upscale(clip, out, *base, "--shard", "1/2")  # another worker finishes and assembles
    made = tree_hash(out)
    assert late.run_chunk(1) == "assembled" and late.assemble() is None
    assert lines[-1] == f"{out}: assembled by another worker"
    assert tree_hash(out) == made and not os.path.exists(job_path(out))


# ---------------------------------------------------------------- leases ----
def test_lease_is_exclusive_and_released(tmp_path):
    a, b = Lease(tmp_path / "x.lease", 5), Lease(tmp_path / "x.lease", 5)
    assert a.try_take() and not b.try_take() and not a.lost()
    a.release()
    assert not os.path.exists(tmp_path / "x.lease") and b.try_take()
    b.release()


def test_a_dead_holders_lease_expires_a_live_ones_does_not(tmp_path):
    path = tmp_path / "x.lease"
    path.write_bytes(b"deadbeefdeadbeef 000000000007 elsewhere 12345\n")  # a holder that stopped beating
    live = Lease(tmp_path / "y.lease", 0.4)
    assert live.try_take()
    taker, watcher = Lease(path, 0.4), Lease(tmp_path / "y.lease", 0.4)
    assert not taker.try_take() and not watcher.try_take()  # first looks: not judged yet
    time.sleep(0.6)
    assert watcher.try_take() is False  # the heartbeat moved on: never expired
    assert taker.try_take() and not taker.lost()  # no change for 0.4 s: taken over
    assert not [e for e in os.listdir(tmp_path) if "broken" in e]
    taker.release()
    live.release()


def test_breaking_a_lease_never_steals_a_newer_one(tmp_path):
    """Two breakers judged the same dead lease; the first took it anew: the second puts the new
    lease back where it found it and does not take it."""
    path = tmp_path / "x.lease"
    path.write_bytes(b"deadbeefdeadbeef 000000000007 elsewhere 12345\n")
    first, second = Lease(path, 0.2), Lease(path, 0.2)
    assert not first.try_take() and not second.try_take()
    time.sleep(0.3)
    assert first.try_take()
    assert not second.try_take() and not first.lost()
    first.release()


# ------------------------------------------------- processes in parallel ----
_KILL_AFTER = textwrap.dedent(f"""
    import os, runpy, signal, sys
    runpy.run_path({os.path.join(REPO, "codes", "_clone.py")!r})
    from tecogan.jobs import job_folder
    at = int(sys.argv[1])
    save = job_folder.JobFolder.save_segment
    def patched(self, index, *a, **k):  # dies just after a chunk's segment `at` is recorded
        save(self, index, *a, **k)
        if index == at and "c000002" in self.path:
            os.kill(os.getpid(), signal.SIGKILL)
    job_folder.JobFolder.save_segment = patched
    sys.argv = ["upscale.py"] + sys.argv[2:]
    from tecogan.upscale import cli
    cli()
""")


def _upscale_cmd(*args):
    return [sys.executable, os.path.join(REPO, "codes", "upscale.py"), *map(str, args)]


@pytest.mark.slow
def test_two_worker_processes_share_one_job(tmp_path, ckpt, clip, upscale):
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--codec", "ffv1"]
    upscale(clip, tmp_path / "one.mkv", *base, "--quiet")
    out = tmp_path / "out.mkv"
    procs = [
        subprocess.Popen(
            _upscale_cmd(clip, out, *base, "--worker", "--lease", "5"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    made = [line for out_, _ in results for line in out_.splitlines() if line.startswith("chunk ")]
    # each chunk made exactly once between them (on a busy machine the first worker may take all four
    # before the second has loaded its model: which worker makes which chunk is not fixed)
    assert len(made) == 4 and len({line.split(":")[0] for line in made}) == 4, made
    assert sum("assembled from 4 chunks" in o for o, _ in results) == 1
    assert same_frames(decode_rgb(out), decode_rgb(tmp_path / "one.mkv"))


@pytest.mark.slow
def test_a_killed_worker_s_chunk_is_finished_by_another(tmp_path, ckpt, clip, upscale):
    base = ["--model", ckpt, "--device", "cpu", *CHUNKED, "--lease", "2"]
    upscale(clip, tmp_path / "one.mkv", *base, "--quiet")
    before = tree_hash(clip), tree_hash(ckpt)
    out = tmp_path / "out.mkv"
    r = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER, "0", clip, out, *base, "--worker"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert os.path.exists(os.path.join(job_path(out), "c000002.lease"))  # left by the dead worker
    assert len(JobFolder(out).records()) == 0 and os.path.exists(os.path.join(job_path(out), "c000001.json"))
    _, stdout, _ = upscale(clip, out, *base, "--worker")
    assert "chunk 2 (frames 17-24): 4 frames" in stdout  # continued after its recorded segment (4 frames)
    assert same_frames(decode_rgb(out), decode_rgb(tmp_path / "one.mkv"))
    assert video_times(out) == video_times(tmp_path / "one.mkv")
    assert (tree_hash(clip), tree_hash(ckpt)) == before and not os.path.exists(job_path(out))
