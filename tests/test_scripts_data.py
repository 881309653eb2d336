"""Data scripts from the command line: default paths, refusals, and the bundled demo data."""

import os
import subprocess

import cv2
import numpy as np
import pytest
from helpers import CAPTURE, assert_one_line, no_temps, run_inprocess, script_cli, tree_hash, write_frames

from tecogan.data.lmdb_io import LMDBReader, read_meta_info
from tecogan.ops.imresize import imresize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")


def raw_clips(root, clips=2, frames=4, h=48, w=56, seed=0):
    rng = np.random.default_rng(seed)
    for c in range(clips):
        os.makedirs(root / f"vid{c}", exist_ok=True)
        for i in range(frames):
            cv2.imwrite(str(root / f"vid{c}" / f"{i:04d}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


pytestmark = pytest.mark.usefixtures("in_process_capture")  # helpers.CAPTURE: commands run in this process


def run(script, *args, cwd=None):
    """scripts/SCRIPT ARGS through its cli() in this process (from ``cwd``): a CompletedProcess."""
    monkeypatch = CAPTURE["monkeypatch"]
    with monkeypatch.context() as m:
        if cwd is not None:
            m.chdir(cwd)
        m.syspath_prepend(SCRIPTS)  # as when the script runs: its folder first (prepare_demo imports create_lmdb)
        status, out, err = run_inprocess(script_cli(f"scripts/{script}"), [script, *map(str, args)], CAPTURE["capsys"], m)
    return subprocess.CompletedProcess([script, *args], status, out, err)


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


def test_create_lmdb_raw_dir_lmdb_dir_and_check(tmp_path):
    raw_clips(tmp_path / "raw")
    r = run("create_lmdb.py", "--dataset", "X", "--raw_dir", tmp_path / "raw", "--lmdb_dir", tmp_path / "X.lmdb")
    assert r.returncode == 0, r.stderr
    meta = read_meta_info(str(tmp_path / "X.lmdb"))
    assert meta["name"] == "X" and len(meta["keys"]) == 8
    assert meta["keys"][:2] == ["vid0_4x48x56_0000", "vid0_4x48x56_0001"]
    assert meta["keys"][-1] == "vid1_4x48x56_0003"
    img = cv2.imread(str(tmp_path / "raw" / "vid1" / "0002.png"))[..., ::-1]
    assert np.array_equal(LMDBReader(str(tmp_path / "X.lmdb")).read("vid1_4x48x56_0002", 48, 56), img)
    assert sorted(os.listdir(tmp_path)) == ["X.lmdb", "raw"]  # no temporary folder left behind
    # headless check: decoded frames as PNG, equal to the source frames
    r = run("create_lmdb.py", "--lmdb_dir", tmp_path / "X.lmdb", "--check", 2, "--check_dir", tmp_path / "chk")
    assert r.returncode == 0, r.stderr
    written = sorted(os.listdir(tmp_path / "chk"))
    assert written == ["vid0_4x48x56_0000.png", "vid1_4x48x56_0000.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "chk" / written[1])), cv2.imread(str(tmp_path / "raw" / "vid1" / "0000.png")))
    r = run("create_lmdb.py", "--raw_dir", tmp_path / "nothing", "--lmdb_dir", tmp_path / "Y.lmdb")
    assert r.returncode == 2 and "nothing" in r.stderr and "Traceback" not in r.stderr


def test_create_lmdb_failure_leaves_nothing(tmp_path):
    raw_clips(tmp_path / "raw", clips=1, frames=3, h=16, w=16)
    cv2.imwrite(str(tmp_path / "raw" / "vid0" / "0002.png"), np.zeros((16, 20, 3), np.uint8))
    r = run("create_lmdb.py", "--raw_dir", tmp_path / "raw", "--lmdb_dir", tmp_path / "out" / "X.lmdb")
    assert r.returncode == 2 and "0002.png: frame is 20x16" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(tmp_path / "out") == []  # neither the LMDB nor its temporary folder
    (tmp_path / "raw" / "vid0" / "0001.png").write_bytes(b"\x89PNG broken")
    r = run("create_lmdb.py", "--raw_dir", tmp_path / "raw", "--lmdb_dir", tmp_path / "out" / "X.lmdb")
    assert r.returncode == 2 and "0001.png" in r.stderr and os.listdir(tmp_path / "out") == []
    r = run("create_lmdb.py", "--lmdb_dir", tmp_path / "out" / "X.lmdb", "--check", -1)
    assert r.returncode == 2 and "--check -1" in r.stderr


def test_resize_bd_equals_cv2_formula_and_generate_bi(tmp_path):
    raw_clips(tmp_path / "GT", clips=1, frames=2, h=32, w=40)
    r = run("resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "BD")
    assert r.returncode == 0, r.stderr
    for name in ("0000.png", "0001.png"):
        gt = cv2.imread(str(tmp_path / "GT" / "vid0" / name))
        expected = cv2.GaussianBlur(gt, (9, 9), sigmaX=1.5)[::4, ::4]
        assert np.array_equal(cv2.imread(str(tmp_path / "BD" / "vid0" / name)), expected)
    r = run("generate_lr_BI.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "BI")
    assert r.returncode == 0, r.stderr
    gt = cv2.imread(str(tmp_path / "GT" / "vid0" / "0000.png"))[..., ::-1]
    bi = cv2.imread(str(tmp_path / "BI" / "vid0" / "0000.png"))[..., ::-1]
    assert bi.shape == (8, 10, 3) and np.array_equal(bi, imresize(gt, 0.25))
    r = run("generate_lr_BI.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "Area", "--method", "area")
    assert r.returncode == 0, r.stderr
    area = cv2.imread(str(tmp_path / "Area" / "vid0" / "0000.png"))[..., ::-1]
    assert np.array_equal(area, cv2.resize(gt, (10, 8), interpolation=cv2.INTER_AREA))
    os.makedirs(tmp_path / "GT2" / "odd")
    cv2.imwrite(str(tmp_path / "GT2" / "odd" / "0000.png"), np.zeros((30, 40, 3), np.uint8))
    for script in ("generate_lr_BI.py", "resize_BD.py"):  # LR x 4 would not be the GT
        r = run(script, "--gt_dir", tmp_path / "GT2", "--lr_dir", tmp_path / "LR2")
        assert r.returncode == 2 and "0000.png: 40x30 is not a multiple of 4" in r.stderr, (script, r.stderr)
    cv2.imwrite(str(tmp_path / "GT" / "vid0" / "0002.png"), np.zeros((28, 40, 3), np.uint8))
    for script in ("generate_lr_BI.py", "resize_BD.py", "bicubic_baseline.py"):
        r = run(
            script,
            "--gt_dir" if script != "bicubic_baseline.py" else "--lr_dir",
            tmp_path / "GT",
            "--lr_dir" if script != "bicubic_baseline.py" else "--out_dir",
            tmp_path / "X",
        )
        assert r.returncode == 2 and "0002.png: 40x28, but 0000.png is 40x32" in r.stderr, (script, r.stderr)
        assert not os.path.exists(tmp_path / "X")
    os.makedirs(tmp_path / "GT" / "vid9")  # a sequence folder without frames
    r = run("resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "X")
    assert r.returncode == 2 and "vid9: no frames" in r.stderr and not os.path.exists(tmp_path / "X")


def test_prepare_demo_is_idempotent(tmp_path):
    out = tmp_path / "demo.lmdb"
    r = run("prepare_demo.py", "--lmdb_dir", out)
    assert r.returncode == 0, r.stderr
    keys = read_meta_info(str(out))["keys"]
    assert len(keys) == 80 and keys[0] == "bedroom_20x144x256_0000"
    before = os.path.getmtime(out / "data.mdb")
    r = run("prepare_demo.py", "--lmdb_dir", out)
    assert r.returncode == 0 and "up to date" in r.stdout
    assert os.path.getmtime(out / "data.mdb") == before
    with open(out / "data.mdb", "r+b") as f:  # cut short: not "up to date", built again
        f.truncate(100_000)
    r = run("prepare_demo.py", "--lmdb_dir", out)
    assert r.returncode == 0 and "out of date, rebuilding" in r.stdout, r.stdout
    assert read_meta_info(str(out))["keys"] == keys and os.path.getsize(out / "data.mdb") > 100_000
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("keep me")
    r = run("prepare_demo.py", "--lmdb_dir", tmp_path / "junk")
    assert r.returncode == 2 and "not an LMDB folder" in r.stderr
    assert (tmp_path / "junk" / "notes.txt").exists()


def test_generate_lr_dir_spelled_like_gt_dir(tmp_path, capsys, monkeypatch):
    write_frames(tmp_path / "gt" / "s1", h=32, w=32)
    os.symlink(tmp_path / "gt", tmp_path / "GT")
    before = tree_hash(tmp_path / "gt")
    status, _, err = run_inprocess(
        script_cli("scripts/generate_lr_BI.py"),
        ["generate_lr_BI.py", "--gt_dir", tmp_path / "gt", "--lr_dir", tmp_path / "GT", "--overwrite"],
        capsys,
        monkeypatch,
    )
    assert_one_line(status, err, "--lr_dir", "is the input")
    assert tree_hash(tmp_path / "gt") == before


@pytest.mark.parametrize("case", ["same", "inside", "contains"])
def test_resize_bd_refuses_lr_dir_touching_gt_dir(tmp_path, capsys, monkeypatch, case):
    gt = tmp_path / "data" / "GT"
    write_frames(gt / "s1", h=16, w=16)
    lr = {"same": gt, "inside": gt / "s1" / "lr", "contains": tmp_path / "data"}[case]
    before = tree_hash(tmp_path / "data")
    status, _, err = run_inprocess(
        script_cli("scripts/resize_BD.py"), ["resize_BD.py", "--gt_dir", gt, "--lr_dir", lr], capsys, monkeypatch
    )
    assert_one_line(status, err, "--lr_dir", "input --gt_dir")
    assert tree_hash(tmp_path / "data") == before


@pytest.mark.parametrize(
    "script, src_opt, dst_opt",
    [
        ("resize_BD.py", "--gt_dir", "--lr_dir"),
        ("generate_lr_BI.py", "--gt_dir", "--lr_dir"),
        ("bicubic_baseline.py", "--lr_dir", "--out_dir"),
    ],
)
def test_data_scripts_keep_or_cleanly_replace_existing_output(tmp_path, capsys, monkeypatch, script, src_opt, dst_opt):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_frames(src / "s1", h=16, w=16)
    write_frames(dst / "s1", n=5, h=4, w=4, seed=2)
    write_frames(dst / "old_seq", n=1, h=4, w=4)
    before = tree_hash(src), tree_hash(dst)
    cli = script_cli(f"scripts/{script}")
    status, _, err = run_inprocess(cli, [script, src_opt, src, dst_opt, dst], capsys, monkeypatch)
    assert_one_line(status, err, dst_opt, "already exists", "--overwrite")
    assert (tree_hash(src), tree_hash(dst)) == before
    status, _, err = run_inprocess(cli, [script, src_opt, src, dst_opt, dst, "--overwrite"], capsys, monkeypatch)
    assert status == 0, err
    assert sorted(os.listdir(dst)) == ["s1"]  # no stale sequence
    assert sorted(os.listdir(dst / "s1")) == ["0000.png", "0001.png", "0002.png"]  # no stale frames
    assert tree_hash(src) == before[0] and no_temps(tmp_path)
