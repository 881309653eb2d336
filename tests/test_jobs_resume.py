"""Resumable jobs: upscale.py killed (SIGKILL) at several points, then ``--resume``, gives the
frames (and audio, and timestamps) of an uninterrupted run exactly; a job made differently is
refused in one line; a plain rerun over an unfinished job names --resume and --overwrite;
--batch resumes a partial output.  The kills are real: a Python process running upscale.py's
command line kills itself with SIGKILL at a chosen moment (after a segment's record, in the
middle of a segment, between a segment's state and its record, while assembling)."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch
from avclips import audio_packets, decode_rgb, make_clip, pattern, video_times
from helpers import AVX2, ZEN4, assert_one_line, same_frames, tree_hash, upscale_in_process

from tecogan.jobs.job_folder import JobFolder, job_path
from tecogan.jobs.job_state import pack_state, unpack_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
ENV = dict(os.environ, OMP_NUM_THREADS="2")  # torch's threads as in this process (tests/conftest.py)
SEG = "4"  # frames per segment: 14 frames are segments of 4, 4, 4 and 2

# upscale.py's command line in a process that SIGKILLs itself at the moment KILL names
_KILLER = textwrap.dedent(f"""
    import os, runpy, signal, sys
    runpy.run_path({os.path.join(REPO, "codes", "_clone.py")!r})
    from tecogan.jobs import assembly
    from tecogan.jobs import job_folder
    from tecogan.jobs import segments
    from tecogan.video import writing
    how, at = sys.argv[1].split(":")
    at = int(at)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if how == "record":  # just after segment `at` is recorded
        save = job_folder.JobFolder.save_segment
        def patched(self, index, *a, **k):
            save(self, index, *a, **k)
            if index == at:
                die()
        job_folder.JobFolder.save_segment = patched
    elif how == "frame":  # after `at` frames were written (a segment half encoded)
        seen = [0]
        for cls in (writing.VideoSink, segments._FrameSegment):
            def make(write):
                def patched(self, *a, **k):
                    write(self, *a, **k)
                    seen[0] += 1
                    if seen[0] == at:
                        die()
                return patched
            cls.write = make(cls.write)
    elif how == "state":  # segment `at`'s state written, its record not
        write_json = job_folder.atomic_write_json
        def patched(path, obj, **k):
            if os.path.basename(path) == f"seg{{at:06d}}.json":
                die()
            write_json(path, obj, **k)
        job_folder.atomic_write_json = patched
    elif how == "assemble":  # every segment done, the final file not yet in place
        def patched(*a, **k):
            die()
        assembly.publish = patched
    sys.argv = ["upscale.py"] + sys.argv[2:]
    from tecogan.upscale import cli
    cli()
""")


@pytest.fixture
def upscale(capsys, monkeypatch):
    """upscale.py in this process (the kills need their own): a result with returncode, stdout, stderr."""

    def run(*args, check=True):
        status, out, err = upscale_in_process(capsys, monkeypatch, *args)
        if check:
            assert status == 0, err
        return subprocess.CompletedProcess(args, status, out, err)

    return run


def killed(kill, *args):
    r = subprocess.run(
        [sys.executable, "-c", _KILLER, kill, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    return r


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    path = folder / "in.mp4"
    make_clip(path, pattern(n=14, h=24, w=32), rate=12, audio=dict(seconds=1.2))
    return path


DONE_AT_KILL = {"record:1": 2, "frame:10": 2, "state:2": 2, "assemble:0": 4}  # segments recorded


@pytest.mark.parametrize("kill", [pytest.param("record:1", marks=pytest.mark.slow), "frame:10", "state:2", "assemble:0"])
def test_killed_video_job_resumes_to_the_uninterrupted_frames_audio_and_times(tmp_path, ckpt, clip, upscale, kill):
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    upscale(clip, tmp_path / "whole.mp4", *base)
    assert not os.path.exists(job_path(tmp_path / "whole.mp4"))
    want = decode_rgb(tmp_path / "whole.mp4")
    assert len(want) == 14
    before = tree_hash(clip.parent)
    out = tmp_path / "out.mp4"
    killed(kill, clip, out, *base)
    assert not os.path.exists(out)
    job = JobFolder(out)
    assert job.manifest() is not None
    done = DONE_AT_KILL[kill]
    assert len(job.records()) == done
    r = upscale(clip, out, *base[:-1], "--resume")
    assert f"resuming from frame {min(14, 4 * done)}" in r.stdout
    assert not os.path.exists(job.path)
    assert not [e for e in os.listdir(tmp_path) if e.startswith(".tecogan-tmp")]
    assert same_frames(decode_rgb(out), want)
    assert video_times(out) == video_times(tmp_path / "whole.mp4")
    assert audio_packets(out) == audio_packets(tmp_path / "whole.mp4")
    assert tree_hash(clip.parent) == before  # the input untouched


def test_segmented_run_keeps_the_frames_of_the_one_go_writer(tmp_path, ckpt, clip, upscale):
    """ffv1 is lossless: the segmented file decodes to the frames the old one-go path writes (the
    API's upscale_video), and with them test mode's (tests/test_video_io.py)."""
    base = ["--model", ckpt, "--device", "cpu", "--codec", "ffv1", "--quiet"]
    upscale(clip, tmp_path / "seg.mkv", *base, "--segment_frames", "3")
    upscale(clip, tmp_path / "one.mkv", *base, "--compare", tmp_path / "side.mkv")  # --compare: in one go
    a, b = decode_rgb(tmp_path / "seg.mkv"), decode_rgb(tmp_path / "one.mkv")
    assert len(a) == 14 and same_frames(a, b)
    assert video_times(tmp_path / "seg.mkv") == video_times(tmp_path / "one.mkv")


@pytest.mark.parametrize("kill", [pytest.param("record:0", marks=pytest.mark.slow), "frame:6"])
def test_killed_frame_folder_job_resumes_to_the_same_pngs(tmp_path, ckpt, upscale, kill):
    rng = np.random.default_rng(3)
    src = tmp_path / "in"
    os.makedirs(src)
    for i in range(11):
        cv2.imwrite(str(src / f"f{i:03d}.png"), rng.integers(0, 256, (20, 28, 3), dtype=np.uint8))
    before = tree_hash(src)
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    upscale(src, tmp_path / "whole", *base)
    out = tmp_path / "out"
    killed(kill, src, out, *base)
    assert not os.path.exists(out) and len(JobFolder(out).records()) == 1
    upscale(src, out, *base, "--resume")
    assert not os.path.exists(job_path(out))
    assert tree_hash(out) == tree_hash(tmp_path / "whole")
    assert sorted(os.listdir(out)) == [f"f{i:03d}.png" for i in range(11)]
    assert tree_hash(src) == before


def test_refusals_name_what_changed_and_the_flags(tmp_path, ckpt, clip, upscale):
    out = tmp_path / "out.mp4"
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG]
    killed("record:0", clip, out, *base)
    r = upscale(clip, out, *base, check=False)  # a plain rerun over the job
    assert_one_line(r.returncode, r.stderr, "unfinished job", "--resume", "--overwrite")
    r = upscale(clip, out, *base, "--resume", "--crf", "30", check=False)
    assert_one_line(r.returncode, r.stderr, "made differently", "encoding.crf")
    r = upscale(clip, out, *base[:-1], "3", "--resume", check=False)
    assert_one_line(r.returncode, r.stderr, "made differently", "segment_frames")
    r = subprocess.run(
        [sys.executable, UPSCALE, clip, out, *base, "--resume"],
        capture_output=True,
        text=True,
        env=dict(ENV, OMP_NUM_THREADS="1"),
        timeout=300,
    )  # torch's thread count changes sums
    assert_one_line(r.returncode, r.stderr, "made differently", "numerics.threads")
    r = upscale(clip, out, *base, "--resume", "--overwrite", check=False)
    assert_one_line(r.returncode, r.stderr, "--resume and --overwrite")
    r = upscale(clip, out, *base, "--resume", "--compare", tmp_path / "side.mp4", check=False)
    assert_one_line(r.returncode, r.stderr, "--compare", "cannot be resumed")
    changed = tmp_path / "changed.mp4"  # the same name's input, other content
    make_clip(changed, pattern(n=14, h=24, w=32, seed=5), rate=12)
    manifest = JobFolder(out).manifest()
    os.replace(changed, tmp_path / "in.mp4")
    r = upscale(tmp_path / "in.mp4", out, *base, "--resume", check=False)
    assert_one_line(r.returncode, r.stderr, "made differently", "input.")
    assert JobFolder(out).manifest() == manifest  # refusals leave the job as it was
    upscale(clip, out, *base, "--overwrite")  # discards the job, starts again
    assert not os.path.exists(job_path(out)) and len(decode_rgb(out)) == 14


def test_stale_temporary_clean_up_keeps_a_job_folder(tmp_path, ckpt, clip, upscale):
    out = tmp_path / "out.mp4"
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    killed("frame:6", clip, out, *base)
    kept = tree_hash(job_path(out))
    r = upscale(clip, out, *base, check=False)  # refused after the output checks removed stale temporaries
    assert r.returncode == 2
    assert tree_hash(job_path(out)) == kept
    upscale(clip, out, *base, "--resume")
    assert len(decode_rgb(out)) == 14


@pytest.mark.parametrize("resume", [True, False])
def test_a_damaged_first_segment_is_named_not_called_no_job(tmp_path, ckpt, clip, upscale, resume):
    """Segment 0's file changed after its record: --resume says so and starts again from frame 0 in
    the job (not "no job to continue"); a plain rerun warns before it discards the job."""
    out = tmp_path / "out.mp4"
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG]
    killed("record:0", clip, out, *base)
    with open(os.path.join(job_path(out), "seg000000.mp4"), "r+b") as f:
        f.seek(100)
        f.write(b"XX")
    r = upscale(clip, out, *base, *(["--resume"] if resume else []))
    assert "segment 0 does not match its record" in r.stderr and "no job" not in r.stdout
    assert not os.path.exists(job_path(out)) and len(decode_rgb(out)) == 14
    assert same_frames(decode_rgb(out), decode_rgb(upscale(clip, tmp_path / "whole.mp4", *base).args[1]))


def test_resume_without_a_job_starts_from_the_first_frame(tmp_path, ckpt, clip, upscale):
    r = upscale(clip, tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu", "--resume")
    assert "no job" in r.stdout and len(decode_rgb(tmp_path / "out.mp4")) == 14


@pytest.mark.slow
def test_batch_resumes_a_partial_output(tmp_path, ckpt, clip, upscale):
    inputs = tmp_path / "in"
    os.makedirs(inputs)
    os.link(clip, inputs / "a.mp4")
    make_clip(inputs / "b.mp4", pattern(n=9, h=24, w=32, seed=2), rate=12)
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    upscale("--batch", inputs, "-o", tmp_path / "whole", *base)
    killed("record:1", "--batch", inputs, "-o", tmp_path / "out", *base)  # a.mp4 half done
    assert len(JobFolder(tmp_path / "out" / "a.mp4").records()) == 2
    r = upscale("--batch", inputs, "-o", tmp_path / "out", *base[:-1])
    assert "resuming from frame 8" in r.stdout and "2 done, 0 skipped, 0 failed" in r.stdout
    for name in ("a.mp4", "b.mp4"):
        got, want = decode_rgb(tmp_path / "out" / name), decode_rgb(tmp_path / "whole" / name)
        assert same_frames(got, want)
    assert not [e for e in os.listdir(tmp_path / "out") if e.endswith(".tecogan-job")]


def test_state_round_trip_is_exact_and_pickle_free(tmp_path):
    state = {
        "done": 3,
        "precision": "bf16",
        "backend": "torch",
        "stepper": {
            "size": (5, 7),
            "tiles": [
                {"lr_prev": torch.randn(1, 3, 5, 7), "hr_prev": torch.randn(1, 3, 20, 28).to(torch.bfloat16)},
                {"lr_prev": None, "hr_prev": None},
            ],
        },
    }
    arrays = {}
    skeleton = json.loads(json.dumps(pack_state(state, arrays)))
    np.savez(tmp_path / "s.npz", **arrays)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as data:
        back = unpack_state(skeleton, {k: data[k] for k in data.files})
    assert back["stepper"]["size"] == (5, 7) and back["done"] == 3
    for a, b in zip(state["stepper"]["tiles"], back["stepper"]["tiles"], strict=True):
        for key in a:
            assert (a[key] is None and b[key] is None) or (a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]))


def test_job_folder_of_a_long_output_name_fits_one_file_name(tmp_path):
    """A legal 250-byte output name gets a job folder within 255 bytes; two such names that differ
    only past the cut get different folders."""
    a, b = "x" * 246 + "a.mp4", "x" * 246 + "b.mp4"
    job_a, job_b = (os.path.basename(job_path(tmp_path / n)) for n in (a, b))
    assert len(os.fsencode(job_a)) <= 255 and len(os.fsencode(job_b)) <= 255
    assert job_a != job_b and job_a.endswith(".tecogan-job")
    os.mkdir(tmp_path / job_a)  # the file system takes it
    assert os.path.basename(job_path(tmp_path / "short.mp4")) == ".short.mp4.tecogan-job"


def test_outputs_in_folders_that_do_not_exist_yet(tmp_path, ckpt, clip, upscale):
    """As before the job folders: OUTPUT's parent folders are made (the job folder lives there)."""
    base = ["--model", ckpt, "--device", "cpu", "--quiet"]
    upscale(clip, tmp_path / "new" / "deeper" / "out.mp4", *base)
    upscale(clip, tmp_path / "other" / "frames", *base)
    assert len(decode_rgb(tmp_path / "new" / "deeper" / "out.mp4")) == 14
    assert len(os.listdir(tmp_path / "other" / "frames")) == 14
    assert not os.path.exists(job_path(tmp_path / "new" / "deeper" / "out.mp4"))


@pytest.fixture
def frames_in(tmp_path):
    rng = np.random.default_rng(7)
    src = tmp_path / "in"
    os.makedirs(src)
    for i in range(10):
        cv2.imwrite(str(src / f"f{i:03d}.png"), rng.integers(0, 256, (20, 28, 3), dtype=np.uint8))
    return src


def _run(capsys, monkeypatch, *args):
    return upscale_in_process(capsys, monkeypatch, *args)


def _partial(capsys, monkeypatch, src, out, *args):
    """A job of ``out`` with its first segment recorded (the disk fills up at the second)."""
    save = JobFolder.save_segment

    def full_disk(self, index, *a, **k):
        if index == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        save(self, index, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(JobFolder, "save_segment", full_disk)
        status, _, err = _run(capsys, monkeypatch, src, out, *args)
    assert status == 2 and "upscaled frames are kept" in err, err
    assert len(JobFolder(out).records()) == 1


@pytest.mark.parametrize("first, then", [("auto", "fp32"), ("fp32", "auto")])
def test_resume_accepts_the_precision_that_ran(tmp_path, ckpt, frames_in, capsys, monkeypatch, flags, first, then):
    flags(AVX2)  # auto runs fp32 here
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    before = tree_hash(frames_in)
    status, _, err = _run(capsys, monkeypatch, frames_in, tmp_path / "whole", *base, "--precision", "fp32")
    assert status == 0, err
    out = tmp_path / "out"
    _partial(capsys, monkeypatch, frames_in, out, *base, "--precision", first)
    status, stdout, err = _run(capsys, monkeypatch, frames_in, out, *base[:-1], "--precision", then, "--resume")
    assert status == 0, err
    assert "resuming from frame 4" in stdout and "+ 4 resumed" in stdout
    if then == "auto":
        assert "precision fp32 (torch)" in stdout and "auto:" not in stdout  # no second decision
    assert not os.path.exists(job_path(out)) and tree_hash(out) == tree_hash(tmp_path / "whole")
    assert tree_hash(frames_in) == before


@pytest.mark.openvino  # --backend openvino is checked by loading it
def test_resume_in_another_precision_gets_the_documented_line(tmp_path, ckpt, frames_in, capsys, monkeypatch, flags):
    flags(AVX2)
    base = ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]
    out = tmp_path / "out"
    _partial(capsys, monkeypatch, frames_in, out, *base, "--precision", "auto")
    kept = tree_hash(job_path(out))
    flags(ZEN4)  # bf16 runs natively: only the job stands in the way
    status, _, err = _run(capsys, monkeypatch, frames_in, out, *base, "--precision", "bf16", "--resume")
    assert_one_line(
        status,
        err,
        "--precision bf16: the job ran in fp32; resume it with --precision fp32 (or auto), or --overwrite to start again",
    )
    assert "warning" not in err  # not "the same command with --resume continues": that command was refused
    assert tree_hash(job_path(out)) == kept
    status, _, err = _run(capsys, monkeypatch, frames_in, out, *base, "--precision", "fp32", "--backend", "openvino", "--resume")
    assert_one_line(
        status,
        err,
        "--precision fp32 --backend openvino: the job ran in fp32; resume it with --precision fp32 (or auto without --backend)",
    )
    assert tree_hash(job_path(out)) == kept


@pytest.mark.parametrize("resume, says", [("auto", "the same command continues"), (True, "with --resume continues")])
def test_the_kept_job_warning_says_how_to_continue(tmp_path, capsys, resume, says):
    """A --batch item continues by itself (resume "auto": no flag); a single run with --resume."""
    import types

    from tecogan.jobs.segments import _keep_or_drop

    folder = types.SimpleNamespace(records=lambda: [{"frames_end": 8}], path=str(tmp_path / ".out.mp4.tecogan-job"))
    _keep_or_drop(folder, types.SimpleNamespace(dst=str(tmp_path / "out.mp4"), resume=resume), OSError("disk full"))
    err = capsys.readouterr().err
    assert "8 upscaled frames are kept" in err and says in err
