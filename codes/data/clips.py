"""What every training dataset shares: the clips listed in an LMDB (and a filter file), their
temporal windows, augmentation, the moving-first-frame windows and the tensor layout.

Randomness never comes from global state: item ``i`` of epoch ``e`` draws from
``np.random.default_rng([seed, e, i])`` (see :mod:`tecogan.data.train_datasets`).
"""
import os

import numpy as np
import torch

from tecogan.data.lmdb_io import make_key, parse_key, read_meta_info
from tecogan.utils.errors import UserError, warn


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
