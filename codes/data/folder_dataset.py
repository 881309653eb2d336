"""Test data: one folder of frames per sequence, LR (and optionally GT) side by side.

``<lr_seq_dir>/<sequence>/<frame>.png`` and ``<gt_seq_dir>/<sequence>/<frame>.png``; the
output frames take the GT's file names (the LR's when there is no GT).
"""
import os
from dataclasses import dataclass, field

import numpy as np

from tecogan import defaults
from tecogan.utils.errors import UserError
from tecogan.utils.fileio import list_images, read_image_rgb

MIN_LR_SIZE = defaults.MIN_LR_SIZE


@dataclass
class SequenceInfo:
    name: str
    lr_paths: list
    gt_paths: list = field(default_factory=list)

    @property
    def frame_names(self):
        paths = self.gt_paths or self.lr_paths
        return [os.path.splitext(os.path.basename(p))[0] + ".png" for p in paths]


def _read_filter_file(path):
    if not os.path.isfile(path):
        raise UserError(f"{path}: filter file not found")
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def _subfolders(path, what):
    if not os.path.isdir(path):
        raise UserError(f"{path}: {what} folder not found")
    names = sorted(d for d in os.listdir(path)
                   if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    if not names:
        raise UserError(f"{path}: {what} folder holds no sequence folders (expected {path}/<sequence>/<frame>.png)")
    return names


class PairedFolderDataset:
    """Sequences of a test set, checked when listed and read on demand.

    ``dataset[i]`` returns a dict: ``name``, ``lr`` (t, h, w, 3) uint8, ``gt``
    (t, s*h, s*w, 3) uint8 or None, ``frame_names``.
    """

    def __init__(self, lr_seq_dir, gt_seq_dir=None, scale=4, filter_file=None, read_gt=True):
        self.lr_seq_dir = lr_seq_dir
        self.gt_seq_dir = gt_seq_dir or None
        self.scale = scale
        self.read_gt = read_gt
        lr_names = _subfolders(lr_seq_dir, "LR")
        if self.gt_seq_dir:
            gt_names = _subfolders(self.gt_seq_dir, "GT")
            missing = [n for n in gt_names if n not in lr_names]
            if missing:
                raise UserError(f"{os.path.join(lr_seq_dir, missing[0])}: sequence present in GT "
                                f"({self.gt_seq_dir}) but not in LR")
            extra = [n for n in lr_names if n not in gt_names]
            if extra:
                raise UserError(f"{os.path.join(self.gt_seq_dir, extra[0])}: sequence present in LR "
                                f"({lr_seq_dir}) but not in GT")
        names = lr_names
        if filter_file:
            wanted = _read_filter_file(filter_file)
            unknown = [n for n in wanted if n not in names]
            if unknown:
                raise UserError(f"{filter_file}: sequence {unknown[0]!r} not found in {lr_seq_dir}")
            names = [n for n in names if n in wanted]
        self.sequences = [self._describe(n) for n in names]

    def _describe(self, name):
        lr_dir = os.path.join(self.lr_seq_dir, name)
        lr_files = list_images(lr_dir)
        if not lr_files:
            raise UserError(f"{lr_dir}: no image frames (expected .png files)")
        info = SequenceInfo(name, [os.path.join(lr_dir, f) for f in lr_files])
        if self.gt_seq_dir:
            gt_dir = os.path.join(self.gt_seq_dir, name)
            gt_files = list_images(gt_dir)
            if len(gt_files) != len(lr_files):
                raise UserError(f"{gt_dir}: {len(gt_files)} GT frames but {len(lr_files)} LR frames in {lr_dir}")
            info.gt_paths = [os.path.join(gt_dir, f) for f in gt_files]
        return info

    def __len__(self):
        return len(self.sequences)

    def read_lr(self, info, warned=None):
        return read_sequence(info.lr_paths, warned, min_size=MIN_LR_SIZE, what="LR")

    def read_gt_frames(self, info, lr_shape, warned=None):
        gt = read_sequence(info.gt_paths, warned, what="GT")
        s = self.scale
        if gt.shape[1] != lr_shape[1] * s or gt.shape[2] != lr_shape[2] * s:
            raise UserError(f"{os.path.dirname(info.gt_paths[0])}: GT frames are {gt.shape[2]}x{gt.shape[1]} "
                            f"but LR {lr_shape[2]}x{lr_shape[1]} x scale {s} = "
                            f"{lr_shape[2] * s}x{lr_shape[1] * s}")
        return gt

    def __getitem__(self, i):
        info = self.sequences[i]
        warned = set()
        lr = self.read_lr(info, warned)
        gt = self.read_gt_frames(info, lr.shape, warned) if (self.gt_seq_dir and self.read_gt) else None
        return {"name": info.name, "lr": lr, "gt": gt, "frame_names": info.frame_names}


def read_sequence(paths, warned=None, min_size=0, what="frame"):
    """Read frames into a (t, h, w, 3) uint8 array; all frames must share one size."""
    frames = []
    for p in paths:
        img = read_image_rgb(p, warned)
        if frames and img.shape != frames[0].shape:
            raise UserError(f"{p}: {what} frame is {img.shape[1]}x{img.shape[0]} but the sequence's first "
                            f"frame {paths[0]} is {frames[0].shape[1]}x{frames[0].shape[0]}")
        if img.shape[0] < min_size or img.shape[1] < min_size:
            raise UserError(f"{p}: {what} frame is {img.shape[1]}x{img.shape[0]}, smaller than the "
                            f"{min_size}x{min_size} minimum the flow network needs")
        frames.append(img)
    return np.stack(frames)
