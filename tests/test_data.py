"""Training data: LMDB layout, meta_info safety, datasets, BD/BI generators, imresize."""
import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from data.lmdb_io import LMDBReader, make_key, parse_key, read_meta_info, write_lmdb
from data.train_datasets import PairedLMDBDataset, UnpairedLMDBDataset, temporal_indices
from ops.imresize import contributions, cubic, imresize
from utils.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")


def raw_clips(root, clips=2, frames=4, h=48, w=56, seed=0):
    rng = np.random.default_rng(seed)
    for c in range(clips):
        os.makedirs(root / f"vid{c}", exist_ok=True)
        for i in range(frames):
            cv2.imwrite(str(root / f"vid{c}" / f"{i:04d}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_create_lmdb_layout_and_check(tmp_path):
    raw_clips(tmp_path / "raw")
    r = run("create_lmdb.py", "--dataset", "X", "--raw_dir", tmp_path / "raw", "--lmdb_dir", tmp_path / "X.lmdb")
    assert r.returncode == 0, r.stderr
    meta = read_meta_info(str(tmp_path / "X.lmdb"))
    assert meta["name"] == "X" and meta["keys"][0] == "vid0_4x48x56_0000" and len(meta["keys"]) == 8
    img = cv2.imread(str(tmp_path / "raw" / "vid1" / "0002.png"))[..., ::-1]
    assert np.array_equal(LMDBReader(str(tmp_path / "X.lmdb")).read("vid1_4x48x56_0002", 48, 56), img)
    r = run("create_lmdb.py", "--lmdb_dir", tmp_path / "X.lmdb", "--check", 2, "--check_dir", tmp_path / "chk")
    assert r.returncode == 0 and len(os.listdir(tmp_path / "chk")) == 2
    r = run("create_lmdb.py", "--raw_dir", tmp_path / "nothing", "--lmdb_dir", tmp_path / "Y.lmdb")
    assert r.returncode == 2 and "nothing" in r.stderr and "Traceback" not in r.stderr


def test_keys_parse():
    assert parse_key("scene_2000_120x134x320_0007") == ("scene_2000", 120, 134, 320, 7)
    assert make_key("a_b", 3, 4, 5, 2) == "a_b_3x4x5_0002"
    with pytest.raises(UserError, match="does not parse"):
        parse_key("scene_12")


def test_meta_info_is_read_safely(tmp_path):
    lmdb_dir = tmp_path / "bad.lmdb"
    lmdb_dir.mkdir()
    with pytest.raises(UserError, match="meta_info.pkl: missing"):
        read_meta_info(str(lmdb_dir))
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    with open(lmdb_dir / "meta_info.pkl", "wb") as f:
        pickle.dump({"name": "x", "keys": [Evil()]}, f)
    with pytest.raises(UserError, match="not a plain meta-info pickle"):
        read_meta_info(str(lmdb_dir))
    assert not marker.exists()
    with open(lmdb_dir / "meta_info.pkl", "wb") as f:
        pickle.dump({"name": "x", "keys": ["no_size_here"]}, f)
    with pytest.raises(UserError, match="does not parse"):
        read_meta_info(str(lmdb_dir))


def test_temporal_reflection():
    assert temporal_indices(2, 5, 5) == [2, 3, 4, 3, 2]
    assert temporal_indices(0, 3, 5) == [0, 1, 2]


@pytest.fixture
def gt_lmdb(tmp_path):
    raw_clips(tmp_path / "raw", frames=5)
    clips = [(v, sorted(str(p) for p in (tmp_path / "raw" / v).iterdir())) for v in ("vid0", "vid1")]
    write_lmdb(str(tmp_path / "gt.lmdb"), "t", clips)
    return str(tmp_path / "gt.lmdb")


def test_unpaired_dataset_is_deterministic(gt_lmdb):
    ds = UnpairedLMDBDataset(gt_lmdb, tempo_extent=4, crop_size=32, seed=5)
    a, b = ds[3]["gt"], ds[3]["gt"]
    assert a.shape == (4, 3, 40, 40) and a.dtype == torch.float32 and torch.equal(a, b)
    ds.set_epoch(1)
    assert not torch.equal(ds[3]["gt"], a)
    plain = UnpairedLMDBDataset(gt_lmdb, tempo_extent=4, crop_size=32, seed=5, moving_first_frame=False,
                                augment=False)
    # without augmentation the clip is a plain crop of consecutive frames (no flip/rot/reversal)
    frames = np.stack([LMDBReader(gt_lmdb).read(make_key("vid0", 5, 48, 56, i), 48, 56) for i in range(4)])
    clip = (plain[0]["gt"].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    found = any(np.array_equal(clip, frames[:, y:y + 40, x:x + 40]) for y in range(9) for x in range(17))
    assert found


def test_paired_dataset_alignment(tmp_path):
    raw_clips(tmp_path / "raw", frames=4, h=64, w=64)
    gt_clips, lr_clips = [], []
    for v in ("vid0", "vid1"):
        paths = sorted((tmp_path / "raw" / v).iterdir())
        os.makedirs(tmp_path / "lr" / v)
        for p in paths:
            img = cv2.imread(str(p))
            cv2.imwrite(str(tmp_path / "lr" / v / p.name), img[::4, ::4])
        gt_clips.append((v, [str(p) for p in paths]))
        lr_clips.append((v, sorted(str(p) for p in (tmp_path / "lr" / v).iterdir())))
    write_lmdb(str(tmp_path / "gt.lmdb"), "t", gt_clips)
    write_lmdb(str(tmp_path / "lr.lmdb"), "t", lr_clips)
    ds = PairedLMDBDataset(str(tmp_path / "gt.lmdb"), str(tmp_path / "lr.lmdb"), 3, 32, moving_factor=0.0, seed=1)
    for i in range(len(ds)):
        item = ds[i]
        assert item["gt"].shape == (3, 3, 32, 32) and item["lr"].shape == (3, 3, 8, 8)
    ds_plain = PairedLMDBDataset(str(tmp_path / "gt.lmdb"), str(tmp_path / "lr.lmdb"), 3, 32,
                                 moving_first_frame=False, augment=False, seed=1)
    item = ds_plain[0]
    assert torch.equal(item["gt"][..., ::4, ::4], item["lr"])


def test_resize_bd_and_generate_bi(tmp_path):
    raw_clips(tmp_path / "GT", clips=1, frames=2, h=32, w=40)
    r = run("resize_BD.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "BD")
    assert r.returncode == 0, r.stderr
    gt = cv2.imread(str(tmp_path / "GT" / "vid0" / "0000.png"))
    expected = cv2.GaussianBlur(gt, (9, 9), sigmaX=1.5)[::4, ::4]
    assert np.array_equal(cv2.imread(str(tmp_path / "BD" / "vid0" / "0000.png")), expected)
    r = run("generate_lr_BI.py", "--gt_dir", tmp_path / "GT", "--lr_dir", tmp_path / "BI")
    assert r.returncode == 0, r.stderr
    bi = cv2.imread(str(tmp_path / "BI" / "vid0" / "0000.png"))[..., ::-1]
    assert np.array_equal(bi, imresize(gt[..., ::-1], 0.25))


def test_imresize_matches_direct_formula():
    rng = np.random.default_rng(0)
    row = rng.uniform(0, 255, 16)
    # direct MATLAB-style evaluation for output sample 2 (1-based) of a 1/4 shrink
    scale, k = 0.25, 2
    u = k / scale + 0.5 * (1 - 1 / scale)
    taps = np.arange(np.floor(u - 8), np.floor(u - 8) + 18)
    w = scale * cubic(scale * (u - taps))
    padded = lambda j: row[int(j) - 1] if 1 <= j <= 16 else row[int(-j)] if j < 1 else row[int(32 - j)]  # noqa: E731
    expected = sum(wi * padded(t) for wi, t in zip(w, taps)) / w.sum()
    got = imresize(row[:, None], 0.25)[:, 0]
    assert got.shape == (4,)
    assert got[k - 1] == pytest.approx(expected, rel=1e-12)


def test_imresize_properties():
    weights, idx = contributions(16, 4, 0.25)
    np.testing.assert_allclose(weights.sum(1), 1.0)
    assert idx.min() >= 0 and idx.max() < 16
    flat = np.full((20, 24, 3), 131, np.uint8)
    out = imresize(flat, 0.25)
    assert out.shape == (5, 6, 3) and out.dtype == np.uint8 and (out == 131).all()
    grad = np.tile(np.arange(64, dtype=np.float64), (8, 1))
    out = imresize(grad, 0.25)
    assert out.shape == (2, 16) and np.all(np.diff(out[1]) > 0)  # monotone ramps stay monotone
