"""Training clips with the ``Real`` degradation: GT from LMDB, LR made per clip on the CPU.

An item is made in this order, every choice drawn from ``np.random.default_rng([seed, epoch,
index])`` (exact resume, any DataLoader worker):

1. a GT region of the clip: whole frames (``real.region: 0``) or a ``region``-pixel low-res
   square (times the scale), placed on the scale grid, over ``tempo_extent`` frames; with
   ``train.moving_first_frame`` sometimes one frame seen through a moving window;
2. one set of degradation parameters for the whole clip (:func:`sample_params`) and the
   low-res clip of the region (:func:`degrade_clip`): the codec sees whole frames, not crops;
3. a random low-res crop and its aligned GT crop, then the flips and rot90 of BI.
"""
import numpy as np

from tecogan import defaults
from tecogan.data.lmdb_io import LMDBReader
from tecogan.data.clips import _LMDBClips, _moving_offsets, augment_clip, temporal_indices, to_tensor
from tecogan.ops.real_degradation import degrade_clip, sample_params
from tecogan.utils.errors import UserError


class RealLMDBDataset(_LMDBClips):
    """Real: item {'gt': (t, 3, G, G), 'lr': (t, 3, G/s, G/s)} from a GT LMDB."""

    def __init__(self, gt_seq_dir, tempo_extent, gt_crop_size, real, scale=4,
                 moving_first_frame=defaults.MOVING_FIRST_FRAME, moving_factor=defaults.MOVING_FACTOR,
                 augment=True, filter_file=None, seed=0):
        super().__init__(gt_seq_dir, tempo_extent, filter_file, seed)
        self.reader = LMDBReader(gt_seq_dir)
        self.scale, self.real = scale, real
        self.lr_size = gt_crop_size // scale
        self.moving_first_frame, self.moving_factor, self.augment = moving_first_frame, moving_factor, augment
        if gt_crop_size % scale:
            raise UserError(f"gt_crop_size: {gt_crop_size} is not a multiple of scale {scale}")
        for vid, _n, h, w, _ in self.parsed:
            if h // scale < self.lr_size or w // scale < self.lr_size:
                raise UserError(f"{gt_seq_dir}: clip {vid} is {w}x{h}, smaller than the crop "
                                f"{gt_crop_size}x{gt_crop_size} (gt_crop_size)")

    def region_size(self, h, w):
        """(height, width) of the degraded region in low-res pixels."""
        lh, lw = h // self.scale, w // self.scale
        r = self.real["region"]
        return (lh, lw) if not r else (min(r, lh), min(r, lw))

    def gt_region(self, rng, vid, nfrm, h, w, start):
        """(t, rh*s, rw*s, 3) GT frames of one region, on the scale grid."""
        s = self.scale
        rh, rw = self.region_size(h, w)
        if self.moving_first_frame and rng.uniform() > self.moving_factor:
            offsets = _moving_offsets(rng, self.tempo_extent, -1.5, 1.5)
            span = offsets.max(axis=0) - offsets.min(axis=0)
            mh, mw = min(rh, h // s - span[0]), min(rw, w // s - span[1])
            if mh >= self.lr_size and mw >= self.lr_size:
                frame = self.read_frames(self.reader, vid, nfrm, h, w, [start])[0]
                y0 = int(rng.integers(-offsets[:, 0].min(), h // s - mh - offsets[:, 0].max() + 1))
                x0 = int(rng.integers(-offsets[:, 1].min(), w // s - mw - offsets[:, 1].max() + 1))
                return np.stack([frame[(y0 + dy) * s:(y0 + dy + mh) * s, (x0 + dx) * s:(x0 + dx + mw) * s]
                                 for dy, dx in offsets])
        frames = self.read_frames(self.reader, vid, nfrm, h, w, temporal_indices(start, self.tempo_extent, nfrm))
        y0 = int(rng.integers(0, h // s - rh + 1))
        x0 = int(rng.integers(0, w // s - rw + 1))
        return frames[:, y0 * s:(y0 + rh) * s, x0 * s:(x0 + rw) * s]

    def __getitem__(self, index):
        rng = self.rng_for(index)
        vid, nfrm, h, w, start = self.parsed[index]
        s, ls = self.scale, self.lr_size
        gt = self.gt_region(rng, vid, nfrm, h, w, start)
        lr = degrade_clip(gt, s, sample_params(rng, self.real))
        y = int(rng.integers(0, lr.shape[1] - ls + 1))
        x = int(rng.integers(0, lr.shape[2] - ls + 1))
        lr = lr[:, y:y + ls, x:x + ls]
        gt = gt[:, y * s:(y + ls) * s, x * s:(x + ls) * s]
        if self.augment:
            gt, lr = augment_clip([gt, lr], rng, time_reverse=False)
        return {"gt": to_tensor(gt), "lr": to_tensor(lr)}
