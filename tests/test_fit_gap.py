"""scripts/fit_gap.py: gain over bicubic on training clips next to held-out clips."""

import os
import re

import numpy as np
import pytest
from helpers import assert_one_line, load_script, run_inprocess, save_tiny_generator, script_cli, tree_hash

from tecogan.utils.fileio import write_image_rgb


def make_clips(root, names, n=4, size=(48, 64)):
    """Smooth moving gradients with a little texture, ``n`` frames per clip."""
    rng = np.random.default_rng(len(names))
    yy, xx = np.mgrid[: size[0], : size[1]]
    for k, name in enumerate(names):
        os.makedirs(root / name)
        texture = rng.integers(0, 40, size=(*size, 3))
        for i in range(n):
            base = 60 + 2 * (xx + i) + yy + 20 * k
            frame = np.clip(base[..., None] + texture, 0, 255).astype(np.uint8)
            write_image_rgb(str(root / name / f"{i:04d}.png"), frame)
    return root


def parse_rows(stdout):
    rows = {}
    for line in stdout.splitlines():
        m = re.match(r"(train|held-out)\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)$", line)
        if m:
            rows[(m[1], m[2])] = tuple(float(v) for v in m.groups()[2:])
    return rows


@pytest.mark.parametrize("degradation", ["BD", "BI"])
def test_rows_match_the_api_and_the_means_match_the_rows(tmp_path, capsys, monkeypatch, degradation):
    from tecogan.api import Upscaler, load_generator

    train = make_clips(tmp_path / "train", ["a", "b"])
    heldout = make_clips(tmp_path / "heldout", ["c"])
    ckpt, _ = save_tiny_generator(tmp_path, degradation=degradation)
    before = [tree_hash(train), tree_hash(heldout), tree_hash(ckpt)]
    status, out, err = run_inprocess(
        script_cli("scripts/fit_gap.py"),
        ["fit_gap.py", "--model", ckpt, "--train_dir", train, "--heldout_dir", heldout, "--frames", 3],
        capsys,
        monkeypatch,
    )
    assert status == 0, err
    rows = parse_rows(out)
    assert set(rows) == {("train", "a"), ("train", "b"), ("held-out", "c")}
    for model, base, gain in rows.values():
        assert gain == pytest.approx(model - base, abs=0.011)

    # the held-out row, recomputed through the API on the first 3 frames
    module = load_script("scripts/fit_gap.py")
    net = load_generator(str(ckpt))
    make_lr, bicubic = module.degraders(degradation, 4)
    model, base = module.clip_gain(Upscaler(net), str(heldout / "c"), 3, make_lr, bicubic)
    assert rows[("held-out", "c")][:2] == pytest.approx((model, base), abs=0.006)

    m = re.search(
        r"mean gain over bicubic: train ([+-][\d.]+) dB \(2 clips\), "
        r"held-out ([+-][\d.]+) dB \(1 clips\), gap ([+-][\d.]+) dB",
        out,
    )
    assert m, out
    train_mean = (rows[("train", "a")][2] + rows[("train", "b")][2]) / 2
    assert float(m[1]) == pytest.approx(train_mean, abs=0.011)
    assert float(m[3]) == pytest.approx(float(m[1]) - float(m[2]), abs=0.011)
    median = re.search(r"median gain over bicubic: train ([+-][\d.]+) dB \(2 clips\)", out)
    assert median and float(median[1]) == pytest.approx(train_mean, abs=0.011)  # two clips: median = mean
    assert [tree_hash(train), tree_hash(heldout), tree_hash(ckpt)] == before


def test_bd_lr_is_every_fourth_blurred_pixel_and_bi_is_centre_aligned():
    module = load_script("scripts/fit_gap.py")
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[4, 8] = 255
    bd_lr, _ = module.degraders("BD", 4)
    bi_lr, _ = module.degraders("BI", 4)
    assert bd_lr(frame).shape == bi_lr(frame).shape == (4, 4, 3)
    assert np.argmax(bd_lr(frame)[..., 0]) == 1 * 4 + 2  # the sample on the bright pixel itself
    assert bi_lr(frame)[1, 2, 0] > 0


def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    ckpt, _ = save_tiny_generator(tmp_path)
    train = make_clips(tmp_path / "train", ["a"])
    empty = tmp_path / "empty"
    empty.mkdir()
    cli = script_cli("scripts/fit_gap.py")
    base = ["fit_gap.py", "--model", ckpt, "--train_dir", train]
    status, _, err = run_inprocess(cli, base + ["--heldout_dir", tmp_path / "missing"], capsys, monkeypatch)
    assert_one_line(status, err, str(tmp_path / "missing"), "--heldout_dir")
    status, _, err = run_inprocess(cli, base + ["--heldout_dir", empty], capsys, monkeypatch)
    assert_one_line(status, err, str(empty), "no clip folders")
    (empty / "clip").mkdir()
    status, _, err = run_inprocess(cli, base + ["--heldout_dir", empty], capsys, monkeypatch)
    assert_one_line(status, err, str(empty / "clip"), "no frames")
    status, _, err = run_inprocess(cli, base + ["--heldout_dir", train, "--frames", 1], capsys, monkeypatch)
    assert_one_line(status, err, "--frames")
    mixed = make_clips(tmp_path / "mixed", ["m"], n=2)
    write_image_rgb(str(mixed / "m" / "0002.png"), np.zeros((32, 64, 3), np.uint8))  # another size
    status, _, err = run_inprocess(cli, base + ["--heldout_dir", mixed], capsys, monkeypatch)
    assert_one_line(status, err, "0002.png: 64x32", "0000.png is 64x48")
