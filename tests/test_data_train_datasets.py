"""Training datasets: sampling, reflection, alignment, augmentation, determinism, config builder."""

import os
import pickle

import cv2
import numpy as np
import pytest
import torch

from tecogan.data.lmdb_io import LMDBReader, make_key, write_lmdb
from tecogan.data.train_datasets import PairedLMDBDataset, UnpairedLMDBDataset, build_train_dataset, temporal_indices
from tecogan.utils.errors import UserError


@pytest.fixture
def lmdb3(tmp_path):
    rng = np.random.default_rng(3)
    clips = []
    for v in ("a", "b", "c"):
        os.makedirs(tmp_path / "raw" / v)
        paths = []
        for i in range(3):
            p = str(tmp_path / "raw" / v / f"{i:04d}.png")
            cv2.imwrite(p, rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
            paths.append(p)
        clips.append((v, paths))
    write_lmdb(str(tmp_path / "gt.lmdb"), "t", clips)
    return str(tmp_path / "gt.lmdb")


def test_filter_file_keeps_listed_sequences(lmdb3, tmp_path):
    (tmp_path / "keep.txt").write_text("b\n\nc\n")
    ds = UnpairedLMDBDataset(lmdb3, 2, 16, filter_file=str(tmp_path / "keep.txt"))
    assert len(ds) == 6 and {p[0] for p in ds.parsed} == {"b", "c"}
    (tmp_path / "none.txt").write_text("zzz\n")
    with pytest.raises(UserError, match="none of its sequences"):
        UnpairedLMDBDataset(lmdb3, 2, 16, filter_file=str(tmp_path / "none.txt"))
    with pytest.raises(UserError, match="filter file not found"):
        UnpairedLMDBDataset(lmdb3, 2, 16, filter_file=str(tmp_path / "missing.txt"))


def test_crop_larger_than_clip_is_a_user_error(lmdb3):
    with pytest.raises(UserError, match="smaller than the crop"):
        UnpairedLMDBDataset(lmdb3, 2, 64)


def _filled(opt):
    """The schema's defaults filled in, as load_config does (without its cross-checks: crop 16
    is below what the flow network needs, fine for a dataset test)."""
    from tecogan.config.schema import validate_node
    from tecogan.experiment import SCHEMA

    validate_node(opt, SCHEMA, "", "test", True)
    return opt


def test_build_from_config_and_pickle_for_workers(lmdb3):
    opt = {
        "scale": 4,
        "manual_seed": 7,
        "dataset": {
            "degradation": {"type": "BD", "sigma": 1.5},
            "train": {"name": "tiny", "seq_dir": lmdb3, "crop_size": 16, "augment": False},
        },
        "model": {"name": "FRVSR", "generator": {}},
        "train": {
            "tempo_extent": 4,
            "moving_first_frame": True,
            "moving_factor": 0.7,
            "total_iter": 1,
            "generator": {"lr": 1e-4},
        },
    }
    ds = build_train_dataset(_filled(opt))
    assert ds.seed == 7 and ds.augment is False and ds.border == 4
    first = ds[2]["gt"]
    assert first.shape == (4, 3, 24, 24)
    clone = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker receives
    assert torch.equal(clone[2]["gt"], first)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=False, num_workers=0)
    batch = next(iter(loader))["gt"]
    assert batch.shape == (3, 4, 3, 24, 24) and torch.equal(batch[2], first)


def test_moving_first_frame_always(lmdb3):
    ds = UnpairedLMDBDataset(lmdb3, 5, 16, moving_first_frame=True, moving_factor=0.0, augment=False)
    for i in range(len(ds)):
        gt = ds[i]["gt"]
        assert gt.shape == (5, 3, 24, 24) and 0.0 <= gt.min() and gt.max() <= 1.0


def test_temporal_reflection():
    assert temporal_indices(0, 3, 5) == [0, 1, 2]
    assert temporal_indices(2, 5, 5) == [2, 3, 4, 3, 2]  # 2*nfrm - i - 2 past the end
    assert temporal_indices(4, 3, 5) == [4, 3, 2]
    assert temporal_indices(1, 8, 3) == [1, 2, 1, 0, 1, 2, 1, 0]  # longer than the clip: keeps bouncing
    assert temporal_indices(0, 3, 1) == [0, 0, 0]


def raw_lmdb(tmp_path, name="gt.lmdb", clips=("vid0", "vid1"), frames=5, h=48, w=56, seed=0):
    rng = np.random.default_rng(seed)
    data = {v: [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(frames)] for v in clips}
    write_lmdb(str(tmp_path / name), "t", list(data.items()))
    return str(tmp_path / name), data


def as_uint8(t):
    return (t.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def test_same_seed_epoch_index_gives_same_sample(tmp_path):
    lmdb_dir, _ = raw_lmdb(tmp_path)
    a = UnpairedLMDBDataset(lmdb_dir, tempo_extent=4, crop_size=32, seed=5)
    b = UnpairedLMDBDataset(lmdb_dir, tempo_extent=4, crop_size=32, seed=5)
    first = a[3]["gt"]
    assert first.shape == (4, 3, 40, 40) and first.dtype == torch.float32 and first.is_contiguous()
    for i in (7, 3, 0):  # any order, any instance
        assert torch.equal(a[i]["gt"], b[i]["gt"])
    b.set_epoch(1)
    assert not torch.equal(b[3]["gt"], first)
    b.set_epoch(0)
    assert torch.equal(b[3]["gt"], first)
    c = UnpairedLMDBDataset(lmdb_dir, tempo_extent=4, crop_size=32, seed=6)
    assert not torch.equal(c[3]["gt"], first)


def test_sample_does_not_depend_on_the_worker(tmp_path):
    lmdb_dir, _ = raw_lmdb(tmp_path)
    ds = UnpairedLMDBDataset(lmdb_dir, tempo_extent=3, crop_size=16, seed=2)
    ds.set_epoch(4)
    direct = torch.stack([ds[i]["gt"] for i in range(len(ds))])
    loader = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=False, num_workers=1)
    via_worker = torch.cat([b["gt"] for b in loader])
    assert torch.equal(direct, via_worker)


def test_key_order_of_meta_info_does_not_matter(tmp_path):
    lmdb_dir, _ = raw_lmdb(tmp_path)
    before = UnpairedLMDBDataset(lmdb_dir, tempo_extent=3, crop_size=16, seed=1)
    meta_path = os.path.join(lmdb_dir, "meta_info.pkl")
    with open(meta_path, "rb") as f:
        meta = pickle.load(f)
    meta["keys"] = meta["keys"][::-1]
    with open(meta_path, "wb") as f:
        pickle.dump(meta, f)
    after = UnpairedLMDBDataset(lmdb_dir, tempo_extent=3, crop_size=16, seed=1)
    assert after.keys == before.keys and torch.equal(after[6]["gt"], before[6]["gt"])


def test_augment_false_is_a_plain_crop_of_consecutive_frames(tmp_path):
    lmdb_dir, data = raw_lmdb(tmp_path)
    ds = UnpairedLMDBDataset(lmdb_dir, tempo_extent=4, crop_size=32, seed=5, moving_first_frame=False, augment=False)
    for index in range(len(ds)):
        vid, start = ds.parsed[index][0], ds.parsed[index][4]
        frames = np.stack([data[vid][j] for j in temporal_indices(start, 4, 5)])
        clip = as_uint8(ds[index]["gt"])
        hits = [(y, x) for y in range(9) for x in range(17) if np.array_equal(clip, frames[:, y : y + 40, x : x + 40])]
        assert len(hits) == 1, index  # no flip, rotation or time reversal: found as-is


def test_augment_true_flips_rotates_and_reverses(tmp_path):
    # a 40x40 clip with crop 32 + 2*4 border: the crop is the whole frame, only augmentation varies
    lmdb_dir, data = raw_lmdb(tmp_path, clips=("v",), frames=4, h=40, w=40)
    ds = UnpairedLMDBDataset(lmdb_dir, tempo_extent=4, crop_size=32, seed=0, moving_first_frame=False)
    frames = np.stack(data["v"])
    seen = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        clip = as_uint8(ds[0]["gt"])
        found = None
        for flip in range(3):
            f = frames if flip == 0 else frames[:, ::-1] if flip == 1 else frames[:, :, ::-1]
            for rev in (False, True):
                g = f[::-1] if rev else f
                for k in range(4):
                    if np.array_equal(clip, np.rot90(g, k, axes=(1, 2))):
                        found = (flip, rev, k)
        assert found is not None
        seen.add(found)
    assert len(seen) >= 6
    assert any(rev for _, rev, _ in seen) and any(k for _, _, k in seen) and any(f for f, _, _ in seen)


def paired_lmdbs(tmp_path, frames=4, h=64, w=64):
    """GT clips and LR = exact 4x4 block means (so any aligned GT window averages to its LR window)."""
    rng = np.random.default_rng(1)
    gt, lr = {}, {}
    for v in ("vid0", "vid1"):
        gt[v], lr[v] = [], []
        for _ in range(frames):
            small = rng.integers(0, 64, (h // 4, w // 4, 3), dtype=np.uint8) * 4
            gt[v].append(np.repeat(np.repeat(small, 4, 0), 4, 1) + rng.integers(0, 4, (h, w, 3), dtype=np.uint8))
            lr[v].append(gt[v][-1].reshape(h // 4, 4, w // 4, 4, 3).mean(axis=(1, 3)).round().astype(np.uint8))
    write_lmdb(str(tmp_path / "gt.lmdb"), "t", list(gt.items()))
    write_lmdb(str(tmp_path / "lr.lmdb"), "t", list(lr.items()))
    return str(tmp_path / "gt.lmdb"), str(tmp_path / "lr.lmdb")


def block_mean(t):
    n, c, h, w = t.shape
    return t.reshape(n, c, h // 4, 4, w // 4, 4).mean(dim=(3, 5))


def test_paired_lr_and_gt_stay_aligned(tmp_path):
    gt_dir, lr_dir = paired_lmdbs(tmp_path)
    for moving_factor in (1.0, 0.0):  # plain clips, then always the moving first frame
        ds = PairedLMDBDataset(gt_dir, lr_dir, tempo_extent=3, gt_crop_size=32, moving_factor=moving_factor, seed=3)
        for epoch in range(2):
            ds.set_epoch(epoch)
            for i in range(len(ds)):
                item = ds[i]
                assert item["gt"].shape == (3, 3, 32, 32) and item["lr"].shape == (3, 3, 8, 8)
                assert (block_mean(item["gt"]) - item["lr"]).abs().max() <= 0.5 / 255 + 1e-6


def test_paired_plain_crop_and_errors(tmp_path):
    gt_dir, lr_dir = paired_lmdbs(tmp_path)
    ds = PairedLMDBDataset(gt_dir, lr_dir, 3, 32, moving_first_frame=False, augment=False, seed=1)
    item = ds[0]
    gt = as_uint8(item["gt"])
    frames = np.stack([LMDBReader(gt_dir).read(make_key("vid0", 4, 64, 64, j), 64, 64) for j in range(3)])
    hits = [(y, x) for y in range(0, 33, 4) for x in range(0, 33, 4) if np.array_equal(gt, frames[:, y : y + 32, x : x + 32])]
    assert len(hits) == 1
    with pytest.raises(UserError, match="smaller than the LR crop 32x32"):
        PairedLMDBDataset(gt_dir, lr_dir, 3, 128)
    with pytest.raises(UserError, match="not a multiple of scale 4"):
        PairedLMDBDataset(gt_dir, lr_dir, 3, 30)
    with pytest.raises(UserError, match="is not 4x that"):
        PairedLMDBDataset(gt_dir, gt_dir, 3, 32)
    short = {"vid0": [np.zeros((16, 16, 3), np.uint8)] * 2, "vid1": [np.zeros((16, 16, 3), np.uint8)] * 4}
    write_lmdb(str(tmp_path / "short.lmdb"), "t", list(short.items()))
    with pytest.raises(UserError, match="vid0 has 2 LR frames but 4 GT frames"):
        PairedLMDBDataset(gt_dir, str(tmp_path / "short.lmdb"), 3, 32)


def test_bd_moving_first_frame_is_a_shifted_first_frame(tmp_path):
    lmdb_dir, data = raw_lmdb(tmp_path, clips=("v",), frames=5, h=64, w=64)
    ds = UnpairedLMDBDataset(lmdb_dir, 4, 16, moving_first_frame=True, moving_factor=0.0, augment=False, seed=0)
    for i in range(len(ds)):
        clip = as_uint8(ds[i]["gt"])
        first = data["v"][ds.parsed[i][4]]
        pos = []
        for t in range(4):
            hits = [
                (y, x)
                for y in range(64 - 24 + 1)
                for x in range(64 - 24 + 1)
                if np.array_equal(clip[t], first[y : y + 24, x : x + 24])
            ]
            assert len(hits) == 1
            pos.append(hits[0])
        steps = np.diff(np.array(pos), axis=0)
        assert steps.min() >= -4 and steps.max() <= 4  # floor(U(-3.5, 4.5)) per frame


def test_negative_seed_and_filter_warning(tmp_path, capsys):
    lmdb_dir, _ = raw_lmdb(tmp_path)
    with pytest.raises(UserError, match="manual_seed: -1"):
        UnpairedLMDBDataset(lmdb_dir, 3, 16, seed=-1)
    (tmp_path / "keep.txt").write_text("# comment\nvid1\nmissing_one\n")
    ds = UnpairedLMDBDataset(lmdb_dir, 3, 16, filter_file=str(tmp_path / "keep.txt"))
    assert {p[0] for p in ds.parsed} == {"vid1"}
    assert "1 listed sequence(s) not in" in capsys.readouterr().err
