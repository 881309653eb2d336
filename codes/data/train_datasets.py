"""Training clips from LMDB: BD (GT only, LR made on the device) and BI (paired GT/LR).

Randomness never comes from global state: item ``i`` of epoch ``e`` draws from
``np.random.default_rng([seed, e, i])``, so a sample depends only on (seed, epoch, index),
whatever the DataLoader worker; this is what makes resumed training exact.
"""
import os

import numpy as np
import torch

from tecogan import defaults
from tecogan.ops.degradation import bd_kernel_radius
from tecogan.data.lmdb_io import LMDBReader, parse_key, read_meta_info
from tecogan.utils.errors import UserError, warn
from tecogan.data.lmdb_io import make_key


def _read_filter(path):
    """Sequence names of a filter file: one per line; blank lines and # comments ignored."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: filter file not found")
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.strip().startswith("#")}


def temporal_indices(start, tempo_extent, nfrm):
    """Frame indices start..start+t-1, reflected past the end (2*nfrm - i - 2)."""
    out = []
    for i in range(start, start + tempo_extent):
        j = i
        while j >= nfrm or j < 0:
            j = 2 * nfrm - j - 2 if j >= nfrm else -j
            if nfrm == 1:
                j = 0
        out.append(j)
    return out


def augment_clip(frames_list, rng, time_reverse):
    """Same random flip (none/vertical/horizontal), rot90 and (optionally) time reversal
    for every array of ``frames_list`` (each (t, h, w, c))."""
    flip = rng.integers(0, 3)
    reverse = time_reverse and rng.integers(0, 2) == 1
    k = int(rng.integers(0, 4))
    out = []
    for frames in frames_list:
        if flip == 1:
            frames = frames[:, ::-1]
        elif flip == 2:
            frames = frames[:, :, ::-1]
        if reverse:
            frames = frames[::-1]
        frames = np.rot90(frames, k, axes=(1, 2))
        out.append(np.ascontiguousarray(frames))
    return out


def to_tensor(frames):
    """(t, h, w, 3) uint8 -> contiguous (t, 3, h, w) float32 in [0, 1]."""
    chw = np.ascontiguousarray(np.asarray(frames).transpose(0, 3, 1, 2))
    return torch.from_numpy(chw).float() / 255.0


class _LMDBClips(torch.utils.data.Dataset):
    def __init__(self, lmdb_dir, tempo_extent, filter_file, seed):
        if tempo_extent < 1:
            raise UserError(f"tempo_extent: expected an integer >= 1, got {tempo_extent}")
        if seed < 0:
            raise UserError(f"manual_seed: {seed} is negative (the per-sample generators need a seed >= 0)")
        meta = read_meta_info(lmdb_dir)
        keys = sorted(meta["keys"])  # the sample order does not depend on how meta_info lists them
        self.name = meta.get("name")
        if filter_file:
            wanted = _read_filter(filter_file)
            present = {parse_key(k, where=lmdb_dir)[0] for k in keys}
            keys = [k for k in keys if parse_key(k, where=lmdb_dir)[0] in wanted]
            if not keys:
                raise UserError(f"{filter_file}: none of its sequences are in {lmdb_dir}")
            absent = sorted(wanted - present)
            if absent:
                warn(f"{filter_file}: {len(absent)} listed sequence(s) not in {lmdb_dir}, e.g. {absent[0]!r}")
        self.keys = keys
        self.parsed = [parse_key(k, where=lmdb_dir) for k in keys]
        self.tempo_extent = tempo_extent
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.keys)

    def rng_for(self, index):
        return np.random.default_rng([self.seed, self.epoch, index])

    @staticmethod
    def read_frames(reader, vid, nfrm, h, w, indices):
        return np.stack([reader.read(make_key(vid, nfrm, h, w, j), h, w) for j in indices])


def _moving_offsets(rng, t, low, high):
    """Cumulative integer shifts (t, 2) starting at (0, 0)."""
    steps = np.floor(rng.uniform(low, high, size=(t - 1, 2))).astype(np.int64)
    return np.concatenate([np.zeros((1, 2), np.int64), np.cumsum(steps, axis=0)])


def _moving_clip(frame, offsets, size, rng, scale=1):
    """Windows of ``size`` (in units of ``scale`` px) shifted by ``offsets`` from one frame."""
    h, w = frame.shape[:2]
    oy, ox = offsets[:, 0] * scale, offsets[:, 1] * scale
    y_lo, y_hi = -oy.min(), h - size * scale - oy.max()
    x_lo, x_hi = -ox.min(), w - size * scale - ox.max()
    if y_hi < y_lo or x_hi < x_lo:
        return None
    y0 = int(rng.integers(y_lo // scale, y_hi // scale + 1)) * scale
    x0 = int(rng.integers(x_lo // scale, x_hi // scale + 1)) * scale
    return np.stack([frame[y0 + dy:y0 + dy + size * scale, x0 + dx:x0 + dx + size * scale]
                     for dy, dx in zip(oy, ox)])


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
    from tecogan.data.real_dataset import RealLMDBDataset
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
