"""Training clips from LMDB: BD (GT only, LR made on the device) and BI (paired GT/LR).

Randomness never comes from global state: item ``i`` of epoch ``e`` draws from
``np.random.default_rng([seed, e, i])``, so a sample depends only on (seed, epoch, index),
whatever the DataLoader worker; this is what makes resumed training exact.
"""

import numpy as np
import torch

from tecogan import defaults
from tecogan.data.clips import _LMDBClips, _moving_clip, _moving_offsets, augment_clip, temporal_indices, to_tensor
from tecogan.data.lmdb_io import LMDBReader, parse_key, read_meta_info
from tecogan.data.real_dataset import RealLMDBDataset
from tecogan.ops.degradation import bd_kernel_radius
from tecogan.utils.errors import UserError

__all__ = ["PairedLMDBDataset", "UnpairedLMDBDataset", "TRAIN_DATASETS", "build_train_dataset", "temporal_indices"]


class UnpairedLMDBDataset(_LMDBClips):
    """BD: GT clips with a border of int(3*sigma) px; item {'gt': (t, 3, crop+2b, crop+2b)}."""

    def __init__(self, seq_dir, tempo_extent, crop_size, scale=4, sigma=defaults.BD_SIGMA,
                 moving_first_frame=defaults.MOVING_FIRST_FRAME,
                 moving_factor=defaults.MOVING_FACTOR, augment=True, filter_file=None, seed=0):
        super().__init__(seq_dir, tempo_extent, filter_file, seed)
        self.reader = LMDBReader(seq_dir)
        self.border = bd_kernel_radius(sigma)
        self.size = crop_size + 2 * self.border
        self.moving_first_frame = moving_first_frame
        self.moving_factor = moving_factor
        self.augment = augment
        for vid, n, h, w, _ in self.parsed:
            if h < self.size or w < self.size:
                raise UserError(f"{seq_dir}: clip {vid} is {w}x{h}, smaller than the crop "
                                f"{self.size}x{self.size} (crop_size + 2*int(3*sigma))")

    def __getitem__(self, index):
        rng = self.rng_for(index)
        vid, nfrm, h, w, start = self.parsed[index]
        clip = None
        if self.moving_first_frame and rng.uniform() > self.moving_factor:
            frame = self.read_frames(self.reader, vid, nfrm, h, w, [start])[0]
            clip = _moving_clip(frame, _moving_offsets(rng, self.tempo_extent, -3.5, 4.5), self.size, rng)
        if clip is None:
            frames = self.read_frames(self.reader, vid, nfrm, h, w,
                                      temporal_indices(start, self.tempo_extent, nfrm))
            y = int(rng.integers(0, h - self.size + 1))
            x = int(rng.integers(0, w - self.size + 1))
            clip = frames[:, y:y + self.size, x:x + self.size]
        if self.augment:
            clip, = augment_clip([clip], rng, time_reverse=True)
        return {"gt": to_tensor(clip)}


class PairedLMDBDataset(_LMDBClips):
    """BI: item {'gt': (t, 3, G, G), 'lr': (t, 3, G/s, G/s)} from paired LMDBs."""

    def __init__(self, gt_seq_dir, lr_seq_dir, tempo_extent, gt_crop_size, scale=4,
                 moving_first_frame=defaults.MOVING_FIRST_FRAME,
                 moving_factor=defaults.MOVING_FACTOR, augment=True, filter_file=None, seed=0):
        super().__init__(gt_seq_dir, tempo_extent, filter_file, seed)
        lr_meta = read_meta_info(lr_seq_dir)
        self.lr_parsed = {(p[0], p[4]): p for p in (parse_key(k, where=lr_seq_dir) for k in lr_meta["keys"])}
        self.gt_reader, self.lr_reader = LMDBReader(gt_seq_dir), LMDBReader(lr_seq_dir)
        self.scale = scale
        self.lr_size = gt_crop_size // scale
        self.moving_first_frame = moving_first_frame
        self.moving_factor = moving_factor
        self.augment = augment
        if gt_crop_size % scale:
            raise UserError(f"gt_crop_size: {gt_crop_size} is not a multiple of scale {scale}")
        for vid, n, h, w, i in self.parsed:
            lr = self.lr_parsed.get((vid, i))
            if lr is None:
                raise UserError(f"{lr_seq_dir}: frame {i} of {vid} is in the GT LMDB {gt_seq_dir} but not in the LR one")
            if lr[1] != n:
                raise UserError(f"{lr_seq_dir}: {vid} has {lr[1]} LR frames but {n} GT frames in {gt_seq_dir}")
            if lr[2] * scale != h or lr[3] * scale != w:
                raise UserError(f"{lr_seq_dir}: {vid} LR is {lr[3]}x{lr[2]}, GT {w}x{h} is not {scale}x that")
            if lr[2] < self.lr_size or lr[3] < self.lr_size:
                raise UserError(f"{lr_seq_dir}: clip {vid} is {lr[3]}x{lr[2]} LR, smaller than the LR crop "
                                f"{self.lr_size}x{self.lr_size} (gt_crop_size / scale)")

    def __getitem__(self, index):
        rng = self.rng_for(index)
        vid, nfrm, h, w, start = self.parsed[index]
        s, ls = self.scale, self.lr_size
        _, _, lh, lw, _ = self.lr_parsed[(vid, start)]
        if self.moving_first_frame and rng.uniform() > self.moving_factor:
            gt0 = self.read_frames(self.gt_reader, vid, nfrm, h, w, [start])[0]
            lr0 = self.read_frames(self.lr_reader, vid, nfrm, lh, lw, [start])[0]
            offsets = _moving_offsets(rng, self.tempo_extent, -1.5, 1.5)
            state = rng.bit_generator.state
            lr = _moving_clip(lr0, offsets, ls, rng)
            rng.bit_generator.state = state
            gt = _moving_clip(gt0, offsets, ls, rng, scale=s) if lr is not None else None
        else:
            lr = None
        if lr is None or gt is None:
            idx = temporal_indices(start, self.tempo_extent, nfrm)
            gt_all = self.read_frames(self.gt_reader, vid, nfrm, h, w, idx)
            lr_all = self.read_frames(self.lr_reader, vid, nfrm, lh, lw, idx)
            y = int(rng.integers(0, lh - ls + 1))
            x = int(rng.integers(0, lw - ls + 1))
            lr = lr_all[:, y:y + ls, x:x + ls]
            gt = gt_all[:, y * s:(y + ls) * s, x * s:(x + ls) * s]
        if self.augment:
            gt, lr = augment_clip([gt, lr], rng, time_reverse=False)
        return {"gt": to_tensor(gt), "lr": to_tensor(lr)}


def _unpaired(ds, deg, common):
    return UnpairedLMDBDataset(ds["seq_dir"], crop_size=ds["crop_size"], sigma=deg["sigma"], **common)


def _paired(ds, _deg, common):
    return PairedLMDBDataset(ds["gt_seq_dir"], ds["lr_seq_dir"], gt_crop_size=ds["gt_crop_size"], **common)


# the YAML's dataset.degradation.type -> a function (train section, degradation section, common
# keywords) making the training dataset; the config reads the names from here
def _real(ds, deg, common):
    return RealLMDBDataset(ds["gt_seq_dir"], gt_crop_size=ds["gt_crop_size"], real=deg["real"], **common)


TRAIN_DATASETS = {"BD": _unpaired, "BI": _paired, "Real": _real}


def build_train_dataset(opt):
    """The training dataset of a validated experiment config."""
    ds = opt["dataset"]["train"]
    deg = opt["dataset"]["degradation"]
    tr = opt["train"]
    common = dict(tempo_extent=tr["tempo_extent"], scale=opt["scale"],
                  moving_first_frame=tr["moving_first_frame"], moving_factor=tr["moving_factor"],
                  augment=ds["augment"], filter_file=ds.get("filter_file"), seed=opt["manual_seed"])
    return TRAIN_DATASETS[deg["type"]](ds, deg, common)
