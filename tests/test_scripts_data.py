"""Data scripts from the command line: default paths, refusals, and the bundled demo data."""
import os
import subprocess
import sys

import cv2
import numpy as np

from data.lmdb_io import read_meta_info

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")


def run(script, *args, cwd=None):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_create_lmdb_default_paths_and_refusals(tmp_path):
    raw = tmp_path / "data" / "Tiny" / "GT" / "s_1"
    raw.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(raw / f"{i:04d}.png"), np.full((8, 12, 3), 40 * i, np.uint8))
    r = run("create_lmdb.py", "--dataset", "Tiny", "--data_type", "GT", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = read_meta_info(str(tmp_path / "data" / "Tiny" / "GT.lmdb"))
    assert meta["keys"] == ["s_1_3x8x12_0000", "s_1_3x8x12_0001", "s_1_3x8x12_0002"]
    r = run("create_lmdb.py", "--dataset", "Tiny", "--data_type", "GT", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = run("create_lmdb.py", "--lmdb_dir", tmp_path / "nope.lmdb", "--check", 1)
    assert r.returncode == 2 and "nope.lmdb" in r.stderr and "Traceback" not in r.stderr


def test_resize_bd_missing_input_is_one_line(tmp_path):
    r = run("resize_BD.py", "--gt_dir", tmp_path / "absent", "--lr_dir", tmp_path / "out")
    assert r.returncode == 2 and "absent" in r.stderr and "Traceback" not in r.stderr


def test_bundled_demo_data():
    demo = os.path.join(REPO, "demo")
    clips = sorted(os.listdir(os.path.join(demo, "train_clips")))
    assert len(clips) == 4
    total = 0
    for root, _, files in os.walk(demo):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    assert total < 8 * 1024 * 1024
    for clip in clips:
        frames = sorted(os.listdir(os.path.join(demo, "train_clips", clip)))
        assert len(frames) >= 20
        h, w = cv2.imread(os.path.join(demo, "train_clips", clip, frames[0])).shape[:2]
        assert h % 4 == 0 and w % 4 == 0
    gt_dir = os.path.join(demo, "val", "GT", "coffee")
    for name in sorted(os.listdir(gt_dir))[:2]:
        gt = cv2.imread(os.path.join(gt_dir, name))
        lr = cv2.imread(os.path.join(demo, "val", "Gaussian4xLR", "coffee", name))
        assert np.array_equal(lr, cv2.GaussianBlur(gt, (9, 9), sigmaX=1.5)[::4, ::4])
    assert os.path.isfile(os.path.join(demo, "LICENSE-sam2-videos"))
