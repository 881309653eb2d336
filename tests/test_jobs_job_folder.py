"""The job folder around resumable jobs (issue 31): --overwrite deletes only a job folder of ours,
recorded work is never dropped and is verified by size and SHA-256, a damaged state or
complete.json is one line, one process per job (lock), batches converge after an interruption at
any point, and a job keeps only its newest state.  Every test hashes the user's files."""

import json
import os

import numpy as np
import pytest
from avclips import decode_rgb, make_clip, pattern
from helpers import assert_one_line, same_frames, tree_hash, upscale_in_process

from tecogan.jobs import assembly, batch, segments
from tecogan.jobs.job_folder import JobFolder, job_path, lock_path
from tecogan.jobs.job_state import state_problem
from tecogan.utils.locks import FileLock

SEG = "3"  # frames per segment: 10 frames are segments of 3, 3, 3 and 1


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "in.mp4"
    make_clip(path, pattern(n=10, h=24, w=32), rate=12)
    return path


@pytest.fixture(scope="module")
def frames_in(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames") / "seq"
    folder.mkdir()
    import cv2

    for i, image in enumerate(pattern(n=7, h=24, w=32, seed=3)):
        cv2.imwrite(str(folder / f"{i:04d}.png"), image[..., ::-1])
    return folder


@pytest.fixture
def upscale(capsys, monkeypatch):
    def run(*args):
        return upscale_in_process(capsys, monkeypatch, *args)

    return run


def base(ckpt):
    return ["--model", ckpt, "--device", "cpu", "--segment_frames", SEG, "--quiet"]


class Stop(RuntimeError):
    pass


def stop_after_segment(monkeypatch, at):
    """The job stops (an error) just after segment ``at`` is recorded."""
    save = segments.JobFolder.save_segment

    def patched(self, index, *a, **k):
        save(self, index, *a, **k)
        if index == at:
            raise Stop("stopped by the test")

    monkeypatch.setattr(segments.JobFolder, "save_segment", patched)


def read_pngs(folder):
    import cv2

    return [cv2.imread(os.path.join(folder, n)) for n in sorted(os.listdir(folder))]


# ------------------------------------------------------------- --overwrite ----
def test_overwrite_never_deletes_a_folder_that_is_not_a_job_of_ours(tmp_path, ckpt, clip, frames_in, upscale):
    out = tmp_path / "out.mp4"
    notes = tmp_path / ".out.mp4.tecogan-job"  # a user's folder that happens to have the name
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    before = tree_hash(notes), tree_hash(clip)
    status, _, err = upscale(clip, out, *base(ckpt), "--overwrite")
    line = assert_one_line(status, err, "notes.txt", "no job of this project writes", "move it away")
    assert "--overwrite" not in line.split("notes.txt")[1]  # never advised for a folder not ours
    assert (tree_hash(notes), tree_hash(clip)) == before and not out.exists()


def test_a_job_folder_named_input_or_holding_the_checkpoint_is_refused(tmp_path, ckpt, frames_in, upscale):
    inputs = tmp_path / ".x.mp4.tecogan-job"  # an input frame folder with a job folder's name
    import shutil

    shutil.copytree(frames_in, inputs)
    before = tree_hash(inputs)
    status, _, err = upscale(inputs, tmp_path / "x.mp4", *base(ckpt), "--overwrite")
    assert_one_line(status, err, "job folder", "is the input")
    assert tree_hash(inputs) == before
    job = tmp_path / ".y.mp4.tecogan-job"  # a checkpoint kept inside a folder of that name
    job.mkdir()
    model = job / "mine.pth"
    shutil.copy(ckpt, model)
    before = tree_hash(job)
    status, _, err = upscale(frames_in, tmp_path / "y.mp4", "--model", model, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, "job folder", "contains the input")
    assert tree_hash(job) == before


def test_overwrite_discards_a_job_of_ours(tmp_path, ckpt, clip, upscale, monkeypatch):
    out = tmp_path / "out.mp4"
    stop_after_segment(monkeypatch, 1)
    status, _, err = upscale(clip, out, *base(ckpt))
    assert status != 0 and "6 upscaled frames are kept" in err
    monkeypatch.undo()
    status, _, err = upscale(clip, out, *base(ckpt), "--overwrite")
    assert status == 0, err
    assert len(decode_rgb(out)) == 10 and not os.path.lexists(job_path(out))
    assert not os.path.lexists(lock_path(out))


# ------------------------------------------------------ work never dropped ----
def test_png_job_whose_output_folder_appears_keeps_its_frames_and_resumes(tmp_path, ckpt, frames_in, upscale, monkeypatch):
    assert upscale(frames_in, tmp_path / "whole", *base(ckpt))[0] == 0
    want = read_pngs(tmp_path / "whole")
    out = tmp_path / "out"
    mark = segments.JobFolder.mark_complete

    def appear(self, records):
        mark(self, records)
        out.mkdir()
        (out / "theirs.txt").write_text("someone else's")

    monkeypatch.setattr(segments.JobFolder, "mark_complete", appear)
    status, _, err = upscale(frames_in, out, *base(ckpt))
    assert status == 2 and "appeared while this command ran" in err
    assert "7 upscaled frames are kept" in err and "--resume" in err
    assert (out / "theirs.txt").read_text() == "someone else's" and os.listdir(out) == ["theirs.txt"]
    assert len(JobFolder(out).records()) == 3
    monkeypatch.undo()
    os.rename(out, tmp_path / "moved")
    status, out_text, err = upscale(frames_in, out, *base(ckpt), "--resume")
    assert status == 0, err
    assert same_frames(read_pngs(out), want) and not os.path.lexists(job_path(out))


def test_a_changed_frame_in_a_job_is_made_again(tmp_path, ckpt, frames_in, upscale, monkeypatch):
    assert upscale(frames_in, tmp_path / "whole", *base(ckpt))[0] == 0
    want = read_pngs(tmp_path / "whole")
    out = tmp_path / "out"
    stop_after_segment(monkeypatch, 1)
    assert upscale(frames_in, out, *base(ckpt))[0] != 0
    monkeypatch.undo()
    frame = os.path.join(JobFolder(out).frames_dir, "0004.png")
    data = bytearray(open(frame, "rb").read())
    data[len(data) // 2] ^= 0x01  # one flipped byte, the same size
    open(frame, "wb").write(bytes(data))
    assert JobFolder(out).records() == []  # segment 1 no longer matches its record; segment 0's state is gone
    status, text, err = upscale(frames_in, out, *base(ckpt)[:-1], "--resume")
    assert status == 0, err
    assert "resuming" not in text
    assert same_frames(read_pngs(out), want)


def _finished_but_not_assembled(tmp_path, ckpt, clip, upscale, monkeypatch):
    out = tmp_path / "out.mp4"

    def fail(*_a, **_k):
        raise Stop("stopped before publishing")

    monkeypatch.setattr(assembly, "publish", fail)
    assert upscale(clip, out, *base(ckpt))[0] != 0
    monkeypatch.undo()
    assert os.path.exists(os.path.join(job_path(out), "complete.json"))
    return out


def test_a_tampered_complete_json_is_refused_in_one_line(tmp_path, ckpt, clip, upscale, monkeypatch):
    out = _finished_but_not_assembled(tmp_path, ckpt, clip, upscale, monkeypatch)
    folder = JobFolder(out)
    done = json.load(open(os.path.join(folder.path, "complete.json")))
    done.update(frames=6, segments=2)  # as if two segments made the whole output
    json.dump(done, open(os.path.join(folder.path, "complete.json"), "w"))
    kept, source = tree_hash(folder.path), tree_hash(clip)
    status, _, err = upscale(clip, out, *base(ckpt), "--resume")
    assert_one_line(status, err, "complete.json", "does not agree", "--overwrite")
    assert not out.exists() and tree_hash(folder.path) == kept and tree_hash(clip) == source


@pytest.mark.parametrize("damage", ["nan", "shape"])
def test_a_nan_or_wrong_shape_state_is_refused_in_one_line(tmp_path, ckpt, clip, upscale, monkeypatch, damage):
    out = tmp_path / "out.mp4"
    stop_after_segment(monkeypatch, 1)
    assert upscale(clip, out, *base(ckpt))[0] != 0
    monkeypatch.undo()
    folder = JobFolder(out)
    record = folder.records()[-1]
    npz = os.path.join(folder.path, record["state_file"])
    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    name = record["state"]["dict"]["stepper"]["dict"]["hr_prev"]["tensor"]
    if damage == "nan":
        arrays[name] = arrays[name].copy()
        arrays[name][0, 0, 0, 0] = np.nan
    else:
        arrays[name] = np.zeros((1, 3, 8, 8), np.float32)
    np.savez(npz, **arrays)  # and the record updated to match, as an adversary would
    import hashlib

    record["state_sha256"] = hashlib.sha256(open(npz, "rb").read()).hexdigest()
    json.dump(record, open(os.path.join(folder.path, "seg000001.json"), "w"))
    kept = tree_hash(folder.path)
    status, _, err = upscale(clip, out, *base(ckpt), "--resume")
    assert_one_line(status, err, "recorded state", "NaN" if damage == "nan" else "shape", "not resumed")
    assert not out.exists() and tree_hash(folder.path) == kept


def test_state_problem_names_what_is_wrong():
    import torch

    ok = {
        "done": 2,
        "precision": "fp32",
        "backend": "torch",
        "stepper": {"lr_prev": torch.zeros(1, 3, 6, 8), "hr_prev": torch.zeros(1, 3, 24, 32)},
    }
    assert state_problem(ok, (6, 8), 4) is None
    assert "not 4 times" in state_problem({**ok, "stepper": {**ok["stepper"], "hr_prev": torch.zeros(1, 3, 12, 16)}}, (6, 8), 4)
    assert "input's frames" in state_problem(ok, (7, 8), 4)
    assert "int64" in state_problem(
        {**ok, "stepper": {"lr_prev": torch.zeros(1, 3, 6, 8, dtype=torch.long), "hr_prev": ok["stepper"]["hr_prev"]}}, (6, 8), 4
    )
    assert "not a job state" in state_problem({"done": "2"}, (6, 8), 4)
    tiled = {**ok, "stepper": {"size": [6, 8], "tiles": [ok["stepper"]]}}
    assert state_problem(tiled, (6, 8), 4) is None and "tiles cover" in state_problem(tiled, (6, 9), 4)


# ---------------------------------------------------------------- locks ----
def test_a_second_run_on_a_held_job_names_the_holder(tmp_path, ckpt, clip, upscale):
    out = tmp_path / "out.mp4"
    held = FileLock(lock_path(out), "test").acquire()
    try:
        for extra in ([], ["--resume"], ["--overwrite"]):
            status, _, err = upscale(clip, out, *base(ckpt), *extra)
            assert_one_line(status, err, "another process", f"pid {os.getpid()}", "wait for it to end")
        assert not out.exists() and not os.path.lexists(job_path(out))
    finally:
        held.release()
    assert upscale(clip, out, *base(ckpt))[0] == 0
    assert not os.path.lexists(lock_path(out))


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, ckpt, clip, upscale):
    out = tmp_path / "out.mp4"
    with open(lock_path(out), "w") as f:
        f.write("999999999 elsewhere\n")  # its file stays, its process (and so its flock) is gone
    status, _, err = upscale(clip, out, *base(ckpt))
    assert status == 0, err
    assert len(decode_rgb(out)) == 10 and not os.path.lexists(lock_path(out))


def test_overlapping_batches_fail_the_held_item_and_converge(tmp_path, ckpt, clip, upscale):
    inputs = tmp_path / "in"
    inputs.mkdir()
    os.link(clip, inputs / "a.mp4")
    make_clip(inputs / "b.mp4", pattern(n=5, h=24, w=32, seed=2), rate=12)
    before = tree_hash(inputs)
    held = FileLock(lock_path(tmp_path / "out" / "a.mp4"), "test").acquire()  # another batch works on a.mp4
    try:
        status, text, err = upscale("--batch", inputs, "-o", tmp_path / "out", *base(ckpt))
    finally:
        held.release()
    assert status == 1 and "a.mp4: FAILED" in err and "another process" in err
    assert "1 done, 0 skipped, 1 failed" in text
    status, text, err = upscale("--batch", inputs, "-o", tmp_path / "out", *base(ckpt))
    assert status == 0 and "1 done, 1 skipped, 0 failed" in text, err
    assert tree_hash(inputs) == before
    assert sorted(os.listdir(tmp_path / "out")) == [".a.mp4.tecogan.json", ".b.mp4.tecogan.json", "a.mp4", "b.mp4"]


# ---------------------------------------------------------- batches converge ----
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_batch_stopped_around_publishing_converges(tmp_path, ckpt, clip, upscale, monkeypatch, when):
    """Stopped (SIGTERM, as a Slurm time limit: KeyboardInterrupt's kind) just before or just after
    the output is renamed into place: the rerun ends with the item done or skipped, never FAILED."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    os.link(clip, inputs / "a.mp4")
    real = assembly.publish

    def stopped(tmp, dst, *a, **k):
        if when == "after":
            real(tmp, dst, *a, **k)
        from tecogan.utils.errors import Terminated

        raise Terminated()

    monkeypatch.setattr(assembly, "publish", stopped)
    status, _, _ = upscale("--batch", inputs, "-o", tmp_path / "out", *base(ckpt))
    assert status == 143
    monkeypatch.undo()
    status, text, err = upscale("--batch", inputs, "-o", tmp_path / "out", *base(ckpt))
    assert status == 0 and "FAILED" not in err, err
    assert ("0 done, 1 skipped" if when == "after" else "1 done, 0 skipped") in text
    assert sorted(os.listdir(tmp_path / "out")) == [".a.mp4.tecogan.json", "a.mp4"]
    assert len(decode_rgb(tmp_path / "out" / "a.mp4")) == 10
    manifest = batch.read_manifest(batch.Item(str(inputs / "a.mp4"), str(tmp_path / "out" / "a.mp4")))
    assert manifest["output"] == batch.output_facts(tmp_path / "out" / "a.mp4")


# ------------------------------------------------------------ bounded size ----
def test_a_job_keeps_only_its_newest_state(tmp_path, ckpt, clip, upscale, monkeypatch):
    out = tmp_path / "out.mp4"
    stop_after_segment(monkeypatch, 7)
    status, _, err = upscale(clip, out, "--model", ckpt, "--device", "cpu", "--segment_frames", "1", "--quiet")
    assert status != 0 and "8 upscaled frames are kept" in err
    monkeypatch.undo()
    folder = JobFolder(out)
    names = os.listdir(folder.path)
    assert [n for n in names if n.endswith(".npz")] == ["seg000007.npz"]
    assert len([n for n in names if n.endswith(".mp4")]) == 8 and len(folder.records()) == 8
    status, _, err = upscale(clip, out, "--model", ckpt, "--device", "cpu", "--segment_frames", "1", "--resume")
    assert status == 0, err
    assert upscale(clip, tmp_path / "whole.mp4", "--model", ckpt, "--device", "cpu", "--segment_frames", "1")[0] == 0
    assert same_frames(decode_rgb(out), decode_rgb(tmp_path / "whole.mp4"))


def test_a_job_killed_before_its_first_segment_is_not_announced(tmp_path, ckpt, clip, upscale, monkeypatch):
    """With the default 250-frame segments a killed short clip left a manifest and nothing else:
    it was announced as an unfinished job that --resume would continue, and --resume found none."""
    out = tmp_path / "out.mp4"
    monkeypatch.setattr(segments.JobFolder, "save_segment", lambda *a, **k: (_ for _ in ()).throw(Stop("killed")))
    assert upscale(clip, out, "--model", ckpt, "--device", "cpu")[0] != 0
    monkeypatch.undo()
    assert not os.path.lexists(job_path(out))  # nothing recorded: nothing kept
    JobFolder(out).begin({"version": 1}, resume=False)
    status, _, err = upscale(clip, out, "--model", ckpt, "--device", "cpu")
    assert status == 0 and "unfinished job" not in err, err
    assert len(decode_rgb(out)) == 10 and not os.path.lexists(job_path(out))
