"""scripts/prepare_footage.py and scripts/bicubic_baseline.py on tiny synthetic footage."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from helpers import load_script, tree_hash

from tecogan.ops.imresize import imresize
from tecogan.utils.fileio import list_images, read_image_rgb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")
target_size = load_script("scripts/prepare_footage.py").target_size


def run(script, *args):
    return subprocess.run(
        [sys.executable, os.path.join(SCRIPTS, script), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def make_footage(root):
    rng = np.random.default_rng(0)
    for clip, frames in (("clipA", 6), ("clipB", 4)):
        (root / "frames" / clip).mkdir(parents=True)
        for i in range(frames):
            cv2.imwrite(str(root / "frames" / clip / f"{i:05d}.jpg"), rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    writer = cv2.VideoWriter(str(root / "vid1.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (80, 56))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((56, 80, 3), 40 * i, np.uint8))
    writer.release()


def test_target_size_rounds_height_to_multiple_of_4():
    assert target_size(854, 480, 448) == (448, 252)
    assert target_size(1280, 720, 448) == (448, 252)
    assert target_size(96, 64, 32) == (32, 20)


def test_prepare_footage_splits_resizes_and_degrades(tmp_path):
    make_footage(tmp_path)
    out = tmp_path / "data"
    r = run(
        "prepare_footage.py",
        "--src",
        tmp_path,
        "--out",
        out,
        "--width",
        32,
        "--holdout",
        "clipB",
        "vid1",
        "--frame_step",
        2,
        "--val_frames",
        2,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out / "Footage" / "GT")) == ["clipA"]
    assert sorted(os.listdir(out / "FootageHeldout" / "GT")) == ["clipB", "vid1"]
    # training clips are thinned by --frame_step, held-out clips keep every frame
    assert list_images(str(out / "Footage" / "GT" / "clipA")) == ["0001.png", "0002.png", "0003.png"]
    assert len(list_images(str(out / "FootageHeldout" / "GT" / "clipB"))) == 4
    assert len(list_images(str(out / "FootageHeldout" / "GT" / "vid1"))) == 5
    gt = read_image_rgb(str(out / "FootageHeldout" / "GT" / "clipB" / "0001.png"))
    lr = read_image_rgb(str(out / "FootageHeldout" / "Gaussian4xLR" / "clipB" / "0001.png"))
    assert gt.shape == (20, 32, 3) and lr.shape == (5, 8, 3)
    assert read_image_rgb(str(out / "FootageHeldout" / "GT" / "vid1" / "0003.png")).shape == (24, 32, 3)
    for kind in ("GT", "Gaussian4xLR"):
        assert list_images(str(out / "FootageVal" / kind / "vid1")) == ["0001.png", "0002.png"]
    # a second run keeps what is there
    r = run("prepare_footage.py", "--src", tmp_path, "--out", out, "--width", 32, "--holdout", "clipB", "vid1")
    assert r.returncode == 0 and "exists, skipped" in r.stdout


def test_prepare_footage_native_crops_of_the_held_out_clips(tmp_path):
    """--native WxH: the centre crop of each held-out clip's first frames at the source's own
    resolution (no resize; capped by the frame, multiples of 4) and its BD low-res frames."""
    make_footage(tmp_path)
    out = tmp_path / "data"
    args = ["--src", tmp_path, "--out", out, "--width", 32, "--holdout", "clipB", "vid1"]
    r = run("prepare_footage.py", *args, "--native", "48x40", "--native_frames", 3)
    assert r.returncode == 0, r.stderr
    native = out / "FootageHeldoutNative"
    assert sorted(os.listdir(native / "GT")) == ["clipB", "vid1"]
    assert list_images(str(native / "GT" / "clipB")) == ["0001.png", "0002.png", "0003.png"]
    source = read_image_rgb(str(sorted((tmp_path / "frames" / "clipB").iterdir())[0]))  # 64x96
    gt = read_image_rgb(str(native / "GT" / "clipB" / "0001.png"))
    np.testing.assert_array_equal(gt, source[12:52, 24:72])  # the centre 48x40, not resized
    assert read_image_rgb(str(native / "Gaussian4xLR" / "clipB" / "0001.png")).shape == (10, 12, 3)
    # a clip smaller than WxH keeps its own size (80x56 -> 48x40 fits; 200x200 is capped)
    r = run("prepare_footage.py", *args, "--native", "200x200", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert read_image_rgb(str(native / "GT" / "vid1" / "0001.png")).shape == (56, 80, 3)
    assert "clipA" not in os.listdir(native / "GT")  # training clips have none
    before = tree_hash(out)
    r = run("prepare_footage.py", *args, "--native", "48x41")
    assert r.returncode == 2 and "--native 48x41: expected WxH, both multiples of 4" in r.stderr and "Traceback" not in r.stderr
    assert tree_hash(out) == before


def test_prepare_footage_native_training_crops_and_validation_frames(tmp_path):
    """--native_train: each training clip's native centre crops (thinned like the training clips,
    named <clip>_native) and the held-out clips' native frames after the first --native_frames."""
    make_footage(tmp_path)
    out = tmp_path / "data"
    args = ["--src", tmp_path, "--out", out, "--width", 32, "--holdout", "clipB", "vid1", "--frame_step", 2]
    r = run("prepare_footage.py", *args, "--native", "48x40", "--native_frames", 2, "--native_train", "--native_val_frames", 2)
    assert r.returncode == 0, r.stderr
    assert os.listdir(out / "FootageNative" / "GT") == ["clipA_native"]
    assert not (out / "FootageNative" / "Gaussian4xLR").exists()
    assert list_images(str(out / "FootageNative" / "GT" / "clipA_native")) == ["0001.png", "0002.png", "0003.png"]
    sources = sorted((tmp_path / "frames" / "clipA").iterdir())
    np.testing.assert_array_equal(
        read_image_rgb(str(out / "FootageNative" / "GT" / "clipA_native" / "0002.png")),
        read_image_rgb(str(sources[2]))[12:52, 24:72],  # frame_step 2: source frames 0, 2, 4
    )
    val = out / "FootageNativeVal"
    assert sorted(os.listdir(val / "GT")) == ["clipB", "vid1"]
    assert list_images(str(val / "GT" / "clipB")) == ["0001.png", "0002.png"]
    source = read_image_rgb(str(sorted((tmp_path / "frames" / "clipB").iterdir())[2]))  # after the 2 test frames
    np.testing.assert_array_equal(read_image_rgb(str(val / "GT" / "clipB" / "0001.png")), source[12:52, 24:72])
    assert read_image_rgb(str(val / "Gaussian4xLR" / "clipB" / "0001.png")).shape == (10, 12, 3)
    before = tree_hash(out)
    r = run("prepare_footage.py", *args, "--native_train")
    assert r.returncode == 2 and "--native_train: needs --native WxH" in r.stderr and "Traceback" not in r.stderr
    assert tree_hash(out) == before


def test_prepare_footage_refusals(tmp_path):
    make_footage(tmp_path)
    r = run("prepare_footage.py", "--src", tmp_path, "--out", tmp_path / "o", "--holdout", "vid9")
    assert r.returncode == 2 and "vid9" in r.stderr and "clipA" in r.stderr and "Traceback" not in r.stderr
    r = run("prepare_footage.py", "--src", tmp_path / "absent", "--out", tmp_path / "o")
    assert r.returncode == 2 and "absent" in r.stderr and "Traceback" not in r.stderr
    r = run("prepare_footage.py", "--src", tmp_path, "--out", tmp_path / "o", "--width", 30, "--holdout")
    assert r.returncode == 2 and "--width 30" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_bicubic_baseline_bd_and_bi(tmp_path):
    import torch

    from tecogan.ops.upsample import BicubicUpsample

    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    (tmp_path / "lr" / "seq").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "lr" / "seq" / "0001.png"), lr[..., ::-1])
    r = run("bicubic_baseline.py", "--lr_dir", tmp_path / "lr", "--out_dir", tmp_path / "bi", "--degradation", "BI")
    assert r.returncode == 0, r.stderr
    up = read_image_rgb(str(tmp_path / "bi" / "seq" / "0001.png"))
    np.testing.assert_array_equal(up, imresize(lr, 4))
    # BD (default): the generator's own upsampler, which keeps LR pixel (i, j) on HR pixel (4i, 4j)
    r = run("bicubic_baseline.py", "--lr_dir", tmp_path / "lr", "--out_dir", tmp_path / "bd")
    assert r.returncode == 0, r.stderr
    up = read_image_rgb(str(tmp_path / "bd" / "seq" / "0001.png"))
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
    ref = (BicubicUpsample(4)(x).clamp(0, 1)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    np.testing.assert_array_equal(up, ref)
    np.testing.assert_array_equal(up[::4, ::4], lr)
    assert up.shape == (24, 28, 3)
    r = run("bicubic_baseline.py", "--lr_dir", tmp_path / "none", "--out_dir", tmp_path / "bic2")
    assert r.returncode == 2 and "none" in r.stderr and "Traceback" not in r.stderr


def test_bd_bicubic_baseline_matches_bd_frames_better_than_imresize():
    """On real BD frames the aligned upsampler is the stronger (fair) baseline."""
    from tecogan.metrics.validation import psnr_y_uint8
    from tecogan.ops.upsample import bd_bicubic_frame

    gt_dir = os.path.join(REPO, "demo", "val", "GT", "coffee")
    lr_dir = os.path.join(REPO, "demo", "val", "Gaussian4xLR", "coffee")
    names = list_images(gt_dir)
    gt = np.stack([read_image_rgb(os.path.join(gt_dir, f)) for f in names])
    lr = [read_image_rgb(os.path.join(lr_dir, f)) for f in names]
    aligned = psnr_y_uint8(gt, np.stack([bd_bicubic_frame(f, 4) for f in lr])).mean()
    matlab = psnr_y_uint8(gt, np.stack([imresize(f, 4) for f in lr])).mean()
    assert aligned > matlab + 1.0, (aligned, matlab)
