"""Training datasets: filter file, config builder, worker safety, moving first frame."""
import os
import pickle

import cv2
import numpy as np
import pytest
import torch

from data.lmdb_io import write_lmdb
from data.train_datasets import UnpairedLMDBDataset, build_train_dataset
from utils.errors import UserError


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


def test_build_from_config_and_pickle_for_workers(lmdb3):
    opt = {"scale": 4, "manual_seed": 7,
           "dataset": {"degradation": {"type": "BD", "sigma": 1.5},
                       "train": {"seq_dir": lmdb3, "crop_size": 16, "augment": False}},
           "train": {"tempo_extent": 4, "moving_first_frame": True, "moving_factor": 0.7}}
    ds = build_train_dataset(opt)
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
