"""The web app's jobs from each kind of input (a video upload, a folder's frames, a file of an
``--allow`` folder), their refusals as one line, a full disk while adding a job, a job that fails,
and one app per work folder (issue 34, docs/ui.md)."""

import errno
import os
import shutil

import cv2
import numpy as np
import pytest
from helpers import tree_hash
from uihelpers import tiny_clip, video_facts

from tecogan.ui import actions
from tecogan.ui.runner import JobQueue
from tecogan.ui.store import JobStore
from tecogan.utils.errors import UserError

SETTINGS = actions.settings_from("frvsr-fast", "x4", precision="fp32")


def _frames(folder, n=3, size=(24, 32), name="{:04d}.png"):
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / name.format(i + 1)
        cv2.imwrite(str(path), np.full((*size, 3), 40 * i, np.uint8))
        paths.append(str(path))
    return paths


def test_an_uploaded_folder_is_named_and_read_as_upscale_py_reads_it(tmp_path):
    """A browser upload keeps each file in a folder named by its hash: the job is named after the
    frames' shared name (not the hash), and hidden or non-image files (.DS_Store, Thumbs.db) are
    left out, as upscale.py leaves them out of a folder."""
    store = JobStore(tmp_path / "work").open()
    queue = JobQueue(store)
    try:
        uploads = []
        for i, name in enumerate(["coffee_0001.png", "coffee_0002.png", ".DS_Store", "Thumbs.db", "._coffee_0001.png"]):
            folder = tmp_path / "gradio" / (f"{i:x}" * 32)  # one hash folder a file
            folder.mkdir(parents=True)
            if name.endswith(".png") and not name.startswith("."):
                cv2.imwrite(str(folder / name), np.full((24, 32, 3), 50 * i, np.uint8))
            else:
                (folder / name).write_bytes(b"\x00\x05\x16\x07 not a frame")
            uploads.append(str(folder / name))
        record = actions.add_job(queue, SETTINGS, frames=uploads)
        assert record["name"] == "coffee" and os.path.basename(record["input"]) == "coffee"
        assert sorted(os.listdir(record["input"])) == ["coffee_0001.png", "coffee_0002.png"]
        assert actions.frames_name(uploads[:1] + [str(tmp_path / "x" / "0002.png")], ["0001.png", "0002.png"]) == "frames"
    finally:
        store.close()


def test_quality_is_checked_against_the_codec():
    assert actions.settings_from("frvsr", "x4", "av1", "60")["crf"] == 60
    for codec, crf, needle in [
        ("h264", "60", "quality (CRF) 60: expected 0..51 for h264"),
        ("ffv1", "23", "ffv1 has no quality"),
    ]:
        with pytest.raises(UserError) as caught:
            actions.settings_from("frvsr", "x4", codec, crf)
        assert needle in str(caught.value) and "--crf" not in str(caught.value)


def _folders(store):
    return sorted(os.listdir(store.jobs_dir))


def test_each_kind_of_input_becomes_a_job_and_bad_ones_are_one_line(tmp_path):
    store = JobStore(tmp_path / "work").open()
    queue = JobQueue(store)  # not started: jobs are only added here
    try:
        frames = _frames(tmp_path / "holiday")
        record = actions.add_job(queue, SETTINGS, frames=frames)
        assert record["name"] == "holiday" and sorted(os.listdir(record["input"])) == ["0001.png", "0002.png", "0003.png"]
        (tmp_path / "allowed").mkdir()
        clip = tiny_clip(tmp_path / "allowed" / "clip.mp4")
        before = tree_hash(tmp_path / "allowed")
        record = actions.add_job(queue, SETTINGS, allowed=str(clip), allow_dirs=[str(tmp_path / "allowed")])
        assert record["input"] == os.path.realpath(clip)  # read in place, never copied or written
        record = actions.add_job(queue, SETTINGS, video=str(clip))
        assert record["input"].startswith(store.jobs_dir) and tree_hash(record["input"]) == tree_hash(clip)
        assert [r["state"] for r in store.jobs()] == ["queued"] * 3
        made = _folders(store)

        (tmp_path / "mixed").mkdir()
        (tmp_path / "mixed" / "notes.txt").write_text("not a frame")
        huge = tmp_path / "mixed" / "huge.png"  # a PNG header declaring 100000 x 100000 pixels
        huge.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (100000).to_bytes(4, "big") * 2 + bytes(17))
        late = dict(SETTINGS, start=30.0)
        tiny = _frames(tmp_path / "tiny", n=1, size=(7, 7))
        odd = _frames(tmp_path / "odd", n=2) + _frames(tmp_path / "odd2", n=1, size=(26, 32))
        for kwargs, needles in [
            ({"frames": [str(tmp_path / "mixed" / "notes.txt")]}, ["none of the 1 uploaded files is an image"]),
            ({"frames": tiny}, ["0001.png: frame is 7x7, smaller than the 8x8 minimum"]),
            ({"frames": odd}, ["0001.png: frame is 32x26 but 0001.png is 32x24", "must not change"]),
            ({"allowed": str(tmp_path / "tiny"), "allow_dirs": [str(tmp_path / "tiny")]}, ["tiny/0001.png", "7x7"]),
            ({"frames": [str(huge)]}, ["huge.png", "100000x100000"]),
            ({"video": frames[0]}, ["0001.png: an image", "frames"]),
            ({"video": str(tmp_path / "missing.mp4")}, ["missing.mp4", "did not arrive"]),
            (
                {"allowed": str(tmp_path / "holiday" / "0001.png"), "allow_dirs": [str(tmp_path / "allowed")]},
                ["outside the allowed folders"],
            ),
            ({}, ["nothing to upscale"]),
        ]:
            with pytest.raises(UserError) as caught:
                actions.add_job(queue, SETTINGS, **kwargs)
            text = str(caught.value)
            assert "\n" not in text and all(n in text for n in needles), (needles, text)
        with pytest.raises(UserError, match=r"^start 30: clip.mp4 has no frames there"):
            actions.add_job(queue, late, video=str(clip))
        assert _folders(store) == made  # no job, no half job made of a refused input
        assert tree_hash(tmp_path / "allowed") == before
        with pytest.raises(UserError, match="another process .* is running it now"):
            JobStore(tmp_path / "work").open()  # one app per work folder
    finally:
        store.close()


def test_a_full_disk_while_adding_a_job_leaves_nothing_half_made(tmp_path, monkeypatch):
    store = JobStore(tmp_path / "work").open()
    clip = tiny_clip(tmp_path / "clip.mp4")
    try:
        queue = JobQueue(store)
        kept = actions.add_job(queue, SETTINGS, video=str(clip))
        record_before = tree_hash(os.path.join(store.folder(kept["id"]), "job.json"))

        def full(src, dst, *args, **kwargs):
            with open(dst, "wb") as f:
                f.write(b"\0" * 100)  # part of it, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(shutil, "copyfile", full)
        with pytest.raises(UserError) as caught:
            actions.add_job(queue, SETTINGS, video=str(clip))
        assert str(caught.value).startswith("clip.mp4: the job could not be added: ")
        assert "space" in str(caught.value)
        assert _folders(store) == [kept["id"]]  # the earlier job untouched, nothing half made
        assert tree_hash(os.path.join(store.folder(kept["id"]), "job.json")) == record_before
    finally:
        store.close()


def test_a_failing_job_is_one_line_and_the_queue_goes_on(tmp_path):
    store = JobStore(tmp_path / "work").open()
    queue = JobQueue(store, threads=1)
    clip = tiny_clip(tmp_path / "clip.mp4")
    try:
        doomed = actions.add_job(queue, SETTINGS, video=str(clip))
        fine = actions.add_job(queue, SETTINGS, video=str(clip))
        os.remove(doomed["input"])  # gone before its turn (a disk unplugged, a hand in the folder)
        queue.start()
        record = queue.wait(doomed["id"], 60)
        assert record["state"] == "failed" and "\n" not in record["message"], record
        assert "clip.mp4" in record["message"] and "not found" in record["message"], record
        assert queue.wait(fine["id"], 60)["state"] == "done"
        assert video_facts(store.paths(store.get(fine["id"]))[1]) == (12, 128, 96)
        assert "Traceback" not in open(store.paths(record)[2]).read()
    finally:
        queue.stop()
        store.close()
