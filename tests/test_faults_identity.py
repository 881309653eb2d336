"""Faults round 3, class 3: nothing of the user's is lost, on any file system.

* Outputs and inputs are compared by file identity, not spelling.  A case-insensitive file
  system (macOS, Windows, a casefolded ext4 folder) is simulated with a hard link (another
  name of the same file) and with a symlinked folder (another spelling of the same folder).
* An output that appears while a command runs (another run writing the same name) is not
  replaced by the final rename unless --overwrite was given.
* Temporary names are provably the project's: a user's ``.tmp_notes.txt`` or
  ``.tmp_out_2024.mp4`` is never taken for one; a legal 244-character output name works.
* --overwrite of a frames folder refuses a folder holding a file the command never writes.
* API options are type-checked (``overwrite='no'`` is an error, not a yes).
Every case hashes the inputs and the old outputs before and after.
"""
import os

import cv2
import numpy as np
import pytest
from avclips import make_clip, pattern
from helpers import assert_one_line, run_inprocess, script_cli, tree_hash, upscale_in_process, write_frames

from tecogan.utils import outputs, tempfiles
from tecogan.utils.errors import UserError
from tecogan.utils.outputs import FILE, FRAMES, AtomicFolder, check_outputs, temp_sibling

up = upscale_in_process


def temps(folder):
    return [f for f in os.listdir(folder) if f.startswith(tempfiles.TEMP_PREFIX)]


# ------------------------------------------------------------- identity ---
def test_upscale_video_onto_another_spelling_of_its_input(tmp_path, ckpt, capsys, monkeypatch):
    """`upscale.py IN.mp4 in.mp4 --overwrite` on a case-insensitive file system: one file, two names."""
    src = tmp_path / "in.mp4"
    make_clip(src, pattern(4))
    os.link(src, tmp_path / "IN.mp4")  # the second spelling reaches the same file
    before = tree_hash(tmp_path)
    status, _, err = up(capsys, monkeypatch, tmp_path / "IN.mp4", src, "--model", ckpt, "--device", "cpu",
                        "--overwrite")
    assert_one_line(status, err, str(src), "is the input")
    assert tree_hash(tmp_path) == before


def test_frames_folder_through_a_symlinked_spelling(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "data" / "in")
    os.symlink(tmp_path / "data", tmp_path / "DATA")
    before = tree_hash(tmp_path / "data")
    for out in (tmp_path / "DATA" / "in", tmp_path / "DATA" / "in" / "sub"):
        status, _, err = up(capsys, monkeypatch, tmp_path / "data" / "in", out, "--model", ckpt, "--device", "cpu",
                            "--overwrite")
        assert_one_line(status, err, str(out), "input")
    assert tree_hash(tmp_path / "data") == before


def test_generate_lr_dir_spelled_like_gt_dir(tmp_path, capsys, monkeypatch):
    write_frames(tmp_path / "gt" / "s1", h=32, w=32)
    os.symlink(tmp_path / "gt", tmp_path / "GT")
    before = tree_hash(tmp_path / "gt")
    status, _, err = run_inprocess(script_cli("scripts/generate_lr_BI.py"),
                                   ["generate_lr_BI.py", "--gt_dir", tmp_path / "gt", "--lr_dir", tmp_path / "GT",
                                    "--overwrite"], capsys, monkeypatch)
    assert_one_line(status, err, "--lr_dir", "is the input")
    assert tree_hash(tmp_path / "gt") == before


def test_two_outputs_differing_only_in_case_are_one(tmp_path):
    with pytest.raises(UserError, match="is also the output"):
        check_outputs([("OUTPUT", tmp_path / "Out.mp4", FILE), ("--compare", tmp_path / "out.MP4", FILE)])
    src = tmp_path / "a.png"
    src.write_bytes(b"x")
    os.link(src, tmp_path / "b.png")
    with pytest.raises(UserError, match="is the input"):
        check_outputs([("OUTPUT", tmp_path / "b.png", FILE)], [("INPUT", src)], overwrite=True)
    assert src.read_bytes() == b"x"


# --------------------------------------------------- appeared meanwhile ---
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


# ------------------------------------------------------------ temp names ---
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


# ------------------------------------------------------ overwrite rules ---
def test_overwrite_refuses_frames_folder_with_a_photo(tmp_path, ckpt, capsys, monkeypatch):
    write_frames(tmp_path / "in")
    write_frames(tmp_path / "out", n=3, seed=5)
    cv2.imwrite(str(tmp_path / "out" / "holiday.jpg"), np.zeros((8, 8, 3), np.uint8))
    before = tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")
    status, _, err = up(capsys, monkeypatch, tmp_path / "in", tmp_path / "out", "--model", ckpt, "--device", "cpu",
                        "--overwrite")
    assert_one_line(status, err, "holiday.jpg", "--overwrite would delete")
    assert (tree_hash(tmp_path / "out"), tree_hash(tmp_path / "in")) == before


@pytest.mark.parametrize("value", ["no", "False", 0, 1, [], "yes"])
def test_api_overwrite_must_be_a_bool(tmp_path, ckpt, value):
    from tecogan.api import Upscaler, load_generator
    write_frames(tmp_path / "in")
    write_frames(tmp_path / "out", n=2, seed=6)
    before = tree_hash(tmp_path / "out")
    with pytest.raises(UserError, match="overwrite.*expected True or False"):
        Upscaler(load_generator(ckpt)).upscale_video(tmp_path / "in", tmp_path / "out", overwrite=value)
    assert tree_hash(tmp_path / "out") == before
