"""utils/outputs.py and utils/tempfiles.py: inputs and existing work are never destroyed.

Outputs that touch inputs are refused; existing outputs are kept without --overwrite and replaced
whole with it; a failure, a SIGTERM, a file-size limit or a full disk midway keeps the old output
and leaves no temporary; read-only and occupied outputs are one line.  Outputs and inputs are
compared by file identity, not spelling (a case-insensitive file system is simulated with a hard
link and a symlinked folder); an output that appears while a command runs is not replaced unless
--overwrite was given; temporary names are provably the project's.  Every case hashes the inputs
and the old outputs before and after (helpers.tree_hash).  (Each command's own refusals of
outputs are tested with the command: test_scripts_data.py, test_data_lmdb.py,
test_official_metrics.py, test_test_mode.py, test_training_trainer.py.)
"""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from avclips import make_clip, pattern
from helpers import (
    assert_one_line,
    limit_file_size,
    no_temps,
    tmpfs_command,
    tree_hash,
    upscale_in_process,
    write_frames,
)

from tecogan.utils import outputs, tempfiles
from tecogan.utils.errors import UserError
from tecogan.utils.outputs import FILE, FRAMES, AtomicFolder, check_outputs, remove_stale_temps, temp_sibling

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSCALE = os.path.join(REPO, "codes", "upscale.py")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
DEAD_PID = 999_999_999  # above Linux's pid_max: never a running process


up = upscale_in_process


def job_folders(folder):
    """The resumable jobs' folders in ``folder`` (work kept on purpose, not a temporary)."""
    return [f for f in os.listdir(folder) if f.endswith(".tecogan-job")]


# -------------------------------------------------------- outputs vs inputs ---
@pytest.mark.parametrize("case", ["same", "inside", "contains", "symlink", "model", "compare_is_output", "compare_is_input"])
def test_upscale_refuses_outputs_that_touch_inputs(tmp_path, ckpt, capsys, monkeypatch, case):
    work = tmp_path / "work"
    src = work / "in"
    write_frames(src)
    model = tmp_path / "model.pth"
    model.write_bytes(ckpt.read_bytes())
    extra = []
    out = {
        "same": src,
        "inside": src / "x4",
        "contains": work,
        "model": model,
        "compare_is_output": tmp_path / "o.mp4",
        "compare_is_input": tmp_path / "o.mp4",
    }.get(case)
    if case == "symlink":
        out = tmp_path / "link"
        os.symlink(src, out)
    if case == "compare_is_output":
        extra = ["--compare", tmp_path / "o.mp4"]
    if case == "compare_is_input":
        os.symlink(model, tmp_path / "cmp.mp4")
        extra = ["--compare", tmp_path / "cmp.mp4"]
    before = tree_hash(work), tree_hash(model)
    status, _, err = up(capsys, monkeypatch, src, out, "--model", model, "--device", "cpu", *extra)
    needle = {
        "same": "is the input",
        "inside": "lies inside the input",
        "contains": "contains the input",
        "symlink": "is the input",
        "model": "is the input --model",
        "compare_is_output": "is also the output",
        "compare_is_input": "is the input --model",
    }[case]
    assert_one_line(status, err, needle)
    assert (tree_hash(work), tree_hash(model)) == before
    assert not (src / "x4").exists() and not (tmp_path / "o.mp4").exists()


def test_upscale_keeps_existing_outputs_without_overwrite(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in")
    (tmp_path / "old.mp4").write_bytes(b"an earlier video")
    write_frames(tmp_path / "frames", n=5, h=48, w=64, seed=9)
    old_video, old_frames = tree_hash(tmp_path / "old.mp4"), tree_hash(tmp_path / "frames")
    for out in ("old.mp4", "frames"):
        status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / out, "--model", ckpt, "--device", "cpu")
        assert_one_line(status, err, str(tmp_path / out), "already exists", "--overwrite")
    status, _, err = up(
        capsys,
        monkeypatch,
        tmp_path / "in",
        tmp_path / "new",
        "--model",
        ckpt,
        "--device",
        "cpu",
        "--compare",
        tmp_path / "old.mp4",
    )
    assert_one_line(status, err, "--compare", "--overwrite")
    assert tree_hash(tmp_path / "old.mp4") == old_video and tree_hash(tmp_path / "frames") == old_frames
    assert not (tmp_path / "new").exists()


def test_upscale_overwrite_replaces_whole_frames_folder(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=3)
    write_frames(tmp_path / "out", n=5, seed=4)  # 0003.png, 0004.png would be stale frames
    before_in = tree_hash(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite")
    assert status == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == ["0000.png", "0001.png", "0002.png"]
    assert cv2.imread(str(tmp_path / "out" / "0000.png")).shape == (48, 64, 3)
    assert tree_hash(tmp_path / "in") == before_in and no_temps(tmp_path)
    # a folder holding anything but frames is never replaced, even with --overwrite
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before_out = tree_hash(tmp_path / "out")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, "notes.txt", "--overwrite would delete")
    assert tree_hash(tmp_path / "out") == before_out


def test_failure_midway_keeps_old_output_and_leaves_no_temporary(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=4)
    frame = tmp_path / "in" / "0002.png"
    frame.write_bytes(frame.read_bytes()[:-20])  # truncated: found when frame 3 is decoded
    write_frames(tmp_path / "out", n=2, seed=5)
    before = tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, "0002.png", "truncated")
    assert (tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")) == before
    assert no_temps(tmp_path)


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=2)
    stale_dir = temp_sibling(tmp_path / "out", pid=DEAD_PID)
    write_frames(stale_dir, n=1)
    stale_video = temp_sibling(tmp_path / "out.mp4", ".mp4", pid=DEAD_PID)
    open(stale_video, "wb").write(b"half a video")
    live = temp_sibling(tmp_path / "out", pid=os.getpid())  # a running process's temporary is left alone
    os.mkdir(live)
    # names of the user's that merely look temporary are never touched
    users = [
        tmp_path / ".tmp_out_12345678.mp4",
        tmp_path / f".tmp_{DEAD_PID}_out.k1ll3d00",
        tmp_path / (os.path.basename(stale_video)[:-6] + "X.mp4"),
    ]
    for u in users:
        u.write_bytes(b"mine")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu")
    assert status == 0, err
    assert not os.path.exists(stale_dir) and os.path.exists(live)
    assert sorted(os.listdir(tmp_path / "out")) == ["0000.png", "0001.png"]
    assert remove_stale_temps(str(tmp_path / "out.mp4")) == [os.path.basename(stale_video)]
    assert all(u.read_bytes() == b"mine" for u in users)


def test_folder_moved_aside_by_a_killed_swap_is_restored(tmp_path):
    """A run killed between 'old folder moved aside' and 'new folder renamed in' loses nothing."""
    out = tmp_path / "out"
    write_frames(out, n=2)
    before = tree_hash(out)
    os.rename(out, temp_sibling(out, old=True, pid=DEAD_PID))
    remove_stale_temps(str(out))
    assert tree_hash(out) == before and no_temps(tmp_path)
    with AtomicFolder(out) as stage:  # and a normal replacement leaves only the new content
        write_frames(stage.tmp, n=1, seed=3)
    assert sorted(os.listdir(out)) == ["0000.png"] and no_temps(tmp_path)


# ------------------------------------------------ signals, full disk, limits ---
def long_input(folder, n=400):
    write_frames(folder, n=n, h=24, w=32)


def test_sigterm_keeps_old_output_and_exits_nonzero(tmp_path, ckpt):
    long_input(tmp_path / "in")
    write_frames(tmp_path / "out", n=2, seed=7)
    before = tree_hash(tmp_path / "out")
    proc = subprocess.Popen(
        [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    line = proc.stdout.readline()  # printed once the first frame is decoded, before inference
    assert "->" in line, proc.stderr.read()
    deadline = time.time() + 60
    while no_temps(tmp_path) and not job_folders(tmp_path) and time.time() < deadline:  # frames being written
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert_one_line(proc.returncode, err, "SIGTERM", expected_status=143)
    assert tree_hash(tmp_path / "out") == before and no_temps(tmp_path)


def test_file_size_limit_keeps_old_output(tmp_path, ckpt):
    """A write that fails (here: a file-size limit, as a full disk would) keeps the old output."""
    write_frames(tmp_path / "in", n=3, h=40, w=48)
    write_frames(tmp_path / "out", n=2, seed=8)
    before = tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")
    r = subprocess.run(
        [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        preexec_fn=limit_file_size(4096),
    )
    assert_one_line(r.returncode, r.stderr, "could not be written", "too large")
    assert (tree_hash(tmp_path / "in"), tree_hash(tmp_path / "out")) == before and no_temps(tmp_path)


def test_full_disk_keeps_old_output(tmp_path, ckpt):
    write_frames(tmp_path / "in", n=6, h=40, w=48)
    old = tmp_path / "preload"
    write_frames(old / "out", n=2, seed=8)
    (tmp_path / "disk").mkdir()
    (tmp_path / "after").mkdir()
    cmd = tmpfs_command(
        tmp_path / "disk",
        64,
        [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "disk" / "out", "--model", ckpt, "--device", "cpu", "--overwrite"],
        preload=old,
        copy_back=tmp_path / "after",
    )
    if cmd is None:
        pytest.skip(
            "mounting a small tmpfs (unshare -rm mount -t tmpfs) is not permitted here; "
            "test_file_size_limit_keeps_old_output covers the failing write"
        )
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert_one_line(r.returncode, r.stderr, "No space left on device", "disk is full")
    assert tree_hash(tmp_path / "after" / "out") == tree_hash(old / "out")
    assert no_temps(tmp_path / "after")


# ------------------------------------------------------- unwritable, occupied ---


def test_read_only_output_folder(tmp_path, ckpt):
    write_frames(tmp_path / "in")
    (tmp_path / "ro").mkdir()
    cmd = tmpfs_command(
        tmp_path / "ro",
        64,
        [sys.executable, UPSCALE, tmp_path / "in", tmp_path / "ro" / "out", "--model", ckpt, "--device", "cpu"],
        read_only=True,
    )
    if cmd is None:
        pytest.skip("mounting a read-only tmpfs (unshare -rm mount) is not permitted here")
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    assert_one_line(r.returncode, r.stderr, "out", "not writable")


@pytest.mark.parametrize(
    "case, needle",
    [
        ("video_is_folder", "is a folder; expected a file name"),
        ("frames_is_file", "is a file; expected a folder"),
        ("parent_is_file", "is a file, not a folder"),
    ],
)
def test_occupied_outputs(tmp_path, ckpt, capsys, monkeypatch, case, needle):
    write_frames(tmp_path / "in")
    if case == "video_is_folder":
        (tmp_path / "out.mp4").mkdir()
        (tmp_path / "out.mp4" / "keep.txt").write_text("mine")
        out = tmp_path / "out.mp4"
    elif case == "frames_is_file":
        (tmp_path / "out").write_text("mine")
        out = tmp_path / "out"
    else:
        (tmp_path / "file").write_text("mine")
        out = tmp_path / "file" / "sub" / "out"
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", out, "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, needle)
    assert tree_hash(tmp_path) == before


def temps(folder):
    return [f for f in os.listdir(folder) if f.startswith(tempfiles.TEMP_PREFIX)]


def test_upscale_video_onto_another_spelling_of_its_input(tmp_path, ckpt, capsys, monkeypatch):
    """`upscale.py IN.mp4 in.mp4 --overwrite` on a case-insensitive file system: one file, two names."""
    src = tmp_path / "in.mp4"
    make_clip(src, pattern(4))
    os.link(src, tmp_path / "IN.mp4")  # the second spelling reaches the same file
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "IN.mp4", src, "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, str(src), "is the input")
    assert tree_hash(tmp_path) == before


def test_frames_folder_through_a_symlinked_spelling(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "data" / "in")
    os.symlink(tmp_path / "data", tmp_path / "DATA")
    before = tree_hash(tmp_path / "data")
    for out in (tmp_path / "DATA" / "in", tmp_path / "DATA" / "in" / "sub"):
        status, _, err = up(capsys, monkeypatch, tmp_path / "data" / "in", out, "--model", ckpt, "--device", "cpu", "--overwrite")
        assert_one_line(status, err, str(out), "input")
    assert tree_hash(tmp_path / "data") == before


def test_two_outputs_differing_only_in_case_are_one(tmp_path):
    with pytest.raises(UserError, match="is also the output"):
        check_outputs([("OUTPUT", tmp_path / "Out.mp4", FILE), ("--compare", tmp_path / "out.MP4", FILE)])
    src = tmp_path / "a.png"
    src.write_bytes(b"x")
    os.link(src, tmp_path / "b.png")
    with pytest.raises(UserError, match="is the input"):
        check_outputs([("OUTPUT", tmp_path / "b.png", FILE)], [("INPUT", src)], overwrite=True)
    assert src.read_bytes() == b"x"


def _racing_check(monkeypatch, make_other):
    """check_outputs passes, then another run's output appears before the final rename."""
    import sys

    import tecogan.upscale  # noqa: F401 - every module that imported check_outputs gets the racing one

    real_check = outputs.check_outputs

    def check(*args, **kwargs):
        real_check(*args, **kwargs)
        make_other()

    for module in list(sys.modules.values()):
        if getattr(module, "check_outputs", None) is real_check:
            monkeypatch.setattr(module, "check_outputs", check)


@pytest.mark.parametrize("kind", ["video", "frames"])
def test_output_that_appears_meanwhile_is_kept(tmp_path, ckpt, capsys, monkeypatch, kind):
    write_frames(tmp_path / "in")
    out = tmp_path / ("out.mp4" if kind == "video" else "out")

    def other_run():
        if kind == "video":
            out.write_bytes(b"the other run's finished video")
        else:
            write_frames(out, n=2, seed=9)

    _racing_check(monkeypatch, other_run)
    before_in = tree_hash(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", out, "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, str(out), "appeared while this command ran")
    other = tree_hash(out)
    assert other is not None and tree_hash(tmp_path / "in") == before_in and not temps(tmp_path)
    if kind == "video":
        assert out.read_bytes() == b"the other run's finished video"


def test_appeared_meanwhile_is_replaced_with_overwrite(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in")
    out = tmp_path / "out"
    _racing_check(monkeypatch, lambda: write_frames(out, n=5, seed=9))
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", out, "--model", ckpt, "--device", "cpu", "--overwrite")
    assert status == 0, err
    assert sorted(os.listdir(out)) == ["0000.png", "0001.png", "0002.png"] and not temps(tmp_path)


def test_foreign_file_that_appears_meanwhile_stops_the_overwrite(tmp_path):
    out = tmp_path / "out"
    write_frames(out, n=2)
    check_outputs([("OUT", out, FRAMES)], overwrite=True)
    stage = AtomicFolder(out)
    write_frames(stage.tmp, n=1, seed=4)
    (out / "holiday.jpg").write_bytes(b"a photo")
    before = tree_hash(out)
    with pytest.raises(UserError, match="holiday.jpg"):
        stage.close(True)
    assert tree_hash(out) == before and not temps(tmp_path)


def test_rename_noreplace_and_its_fallbacks(tmp_path, monkeypatch):
    for fallback in (False, True):
        if fallback:
            monkeypatch.setattr(tempfiles, "_renameat2", lambda: None)
        a, b = tmp_path / f"a{fallback}", tmp_path / f"b{fallback}"
        a.write_bytes(b"new")
        b.write_bytes(b"old")
        assert tempfiles.rename_noreplace(a, b) is False and b.read_bytes() == b"old" and a.exists()
        b.unlink()
        assert tempfiles.rename_noreplace(a, b) is True and b.read_bytes() == b"new" and not a.exists()
        d1, d2 = tmp_path / f"d1{fallback}", tmp_path / f"d2{fallback}"
        write_frames(d1, n=1)
        write_frames(d2, n=1, seed=3)
        before = tree_hash(d2)
        assert tempfiles.rename_noreplace(d1, d2) is False and tree_hash(d2) == before


def test_users_dot_tmp_files_are_not_temporaries(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".tmp_notes.txt").write_text("my notes")
    beside = tmp_path / ".tmp_out_2024.mp4"
    beside.write_bytes(b"my video")
    before = tree_hash(tmp_path / "out"), tree_hash(beside)
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", out, "--model", ckpt, "--device", "cpu")
    assert_one_line(status, err, "already exists and is not empty")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", out, "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, ".tmp_notes.txt", "--overwrite would delete")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out.mp4", "--model", ckpt, "--device", "cpu")
    assert status == 0, err
    assert (tree_hash(tmp_path / "out"), tree_hash(beside)) == before


def test_temp_names_are_provable_and_short_enough():
    name = "v" * 240 + ".mp4"  # a legal 244-character name
    for old in (False, True):
        tmp = os.path.basename(temp_sibling(os.path.join("/x", name), old=old, pid=4_194_304))
        assert len(os.fsencode(tmp)) <= 255 and tmp.endswith(".mp4")
        assert tempfiles.temp_belongs_to(tmp, name) and tempfiles.parse_temp(tmp)[1] is old
        assert not tempfiles.is_own_temp(tmp[:-5] + "w.mp4")  # one changed letter: not ours
    assert not tempfiles.is_own_temp(".tecogan-tmp-12-0123456789abcdef-out.mp4")


def test_a_244_character_output_name_works(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in", n=2)
    for name in ("f" * 244, "v" * 240 + ".mp4"):
        status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / name, "--model", ckpt, "--device", "cpu")
        assert status == 0, err
        assert os.path.exists(tmp_path / name) and not temps(tmp_path)


def test_overwrite_refuses_frames_folder_with_a_photo(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in")
    write_frames(tmp_path / "out", n=3, seed=5)
    cv2.imwrite(str(tmp_path / "out" / "holiday.jpg"), np.zeros((8, 8, 3), np.uint8))
    before = tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu", "--overwrite")
    assert_one_line(status, err, "holiday.jpg", "--overwrite would delete")
    assert (tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")) == before
