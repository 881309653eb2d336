"""scripts/compare_crops.py: the model cards' still crops (bicubic | FRVSR | TecoGAN | GT)."""

import os

import numpy as np
from helpers import assert_one_line, run_inprocess, script_cli, tree_hash

from tecogan.utils.fileio import read_image_rgb, write_image_rgb


def make_folder(path, value, n=3, size=(40, 60)):
    os.makedirs(path)
    for i in range(n):
        frame = np.full((*size, 3), value, np.uint8)
        frame[10 + i, 20] = 255 - value  # a mark that differs per frame
        write_image_rgb(os.path.join(path, f"{i:04d}.png"), frame)
    return path


def test_panels_side_by_side_and_inputs_untouched(tmp_path, capsys, monkeypatch):
    a = make_folder(tmp_path / "a", 30)
    b = make_folder(tmp_path / "b", 200)
    out = tmp_path / "crops.png"
    before = [tree_hash(a), tree_hash(b)]
    argv = ["compare_crops.py", out, "--panel", f"low={a}", "--panel", f"high={b}", "--frame", "2", "--crop", "10,5,30,20"]
    status, stdout, err = run_inprocess(script_cli("scripts/compare_crops.py"), argv, capsys, monkeypatch)
    assert status == 0, err
    assert "2 panels of frame 2, crop 30x20" in stdout
    image = read_image_rgb(out)
    assert image.shape[1] > image.shape[0] > 0
    left, right = image[:, : image.shape[1] // 2], image[:, image.shape[1] // 2 :]
    # each half shows its own folder's grey level (the dark panel on the left)
    assert (np.abs(left.astype(int) - 30) < 3).all(axis=2).sum() > 1000
    assert (np.abs(right.astype(int) - 200) < 3).all(axis=2).sum() > 1000
    assert [tree_hash(a), tree_hash(b)] == before

    # an existing output is kept without --overwrite
    kept = tree_hash(out)
    status, _, err = run_inprocess(script_cli("scripts/compare_crops.py"), argv, capsys, monkeypatch)
    assert_one_line(status, err, str(out), "--overwrite")
    assert tree_hash(out) == kept


def test_bad_arguments_one_line(tmp_path, capsys, monkeypatch):
    a = make_folder(tmp_path / "a", 30)
    out = tmp_path / "crops.png"
    cases = [
        (["--panel", f"{a}", "--crop", "0,0,5,5"], "--panel"),
        (["--panel", f"x={a}", "--crop", "0,0,5"], "--crop 0,0,5"),
        (["--panel", f"x={a}", "--crop", "50,0,20,20"], "outside the 60x40 frame"),
        (["--panel", f"x={a}", "--crop", "0,0,5,5", "--frame", "3"], "has 3 frames"),
        (["--panel", f"x={tmp_path / 'missing'}", "--crop", "0,0,5,5"], "missing"),
    ]
    for args, needle in cases:
        status, _, err = run_inprocess(
            script_cli("scripts/compare_crops.py"), ["compare_crops.py", out, *args], capsys, monkeypatch
        )
        assert_one_line(status, err, needle)
        assert not out.exists()
