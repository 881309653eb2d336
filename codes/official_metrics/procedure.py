"""The official TecoGAN metric procedure (the numbers reported in papers).

Per sequence (frames paired GT/SR in sorted order; their names must match, see
:func:`check_pairing`, unless ``--pair_by position``):

* only frames with index in ``[2, n-2)`` are evaluated, so a sequence needs >= 5 frames;
* GT and SR frames of different sizes are both cut to their common top-left area
  (SR frame pixel (0, 0) is GT pixel (0, 0) for both BD and BI degradations);
* spatial metrics use :func:`crop_8x8` (the largest multiple of 32 per dimension that
  leaves at least 8 pixels on each side, centred):
  PSNR on float Y (BT.601 [16, 235], no rounding), data range 255;
  SSIM on the same Y (skimage ``structural_similarity``, ``data_range`` = max - min of SR Y);
  LPIPS alex v0.1 on RGB in [-1, 1];
* temporal metrics start at the second evaluated frame:
  tOF = mean end-point error between the Farneback flows (previous -> current grey frame,
  computed on the uncropped frames) of GT and of SR, the flow fields cropped by ``crop_8x8``;
  tLP100 = ``|LPIPS(gt_prev, gt) - LPIPS(sr_prev, sr)| * 100`` on the cropped frames;
* summary: ``frame_avg`` = mean over all frames of all sequences, ``folder_avg`` = mean of
  the per-sequence means.

Identical GT and SR frames give PSNR ``inf`` (as the official code, ``20 log10(255/0)``);
``inf`` then propagates into the averages.
"""

import os
import re
import time

import numpy as np
import torch
from skimage.metrics import structural_similarity

from tecogan.errors import TooFewFrames, UserError
from tecogan.metrics.functional import psnr, rgb_to_y, to_gray, tof_frame_pair
from tecogan.metrics.lpips_loader import lpips_features, lpips_from_features, uint8_to_lpips_input
from tecogan.official_metrics import METRICS, SPATIAL, TEMPORAL  # noqa: F401 (names of the procedure)
from tecogan.official_metrics.report import build_report, fmt, mean
from tecogan.utils.errors import warn
from tecogan.utils.fileio import list_images, read_image_rgb

MIN_FRAMES = 5


# ----------------------------------------------------------------------------- frames
def crop_8x8_box(h, w):
    """(y, x, ch, cw): centred crop whose sides are the largest multiples of 32 <= size - 16."""
    ch = (h - 16) // 32 * 32
    cw = (w - 16) // 32 * 32
    if ch <= 0 or cw <= 0:
        raise UserError(f"frames of {w}x{h} are too small for the official crop_8x8 (each side needs at least 48 pixels)")
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def crop_8x8(img):
    """Centre crop of an (h, w, ...) array by :func:`crop_8x8_box` (a view)."""
    y, x, ch, cw = crop_8x8_box(img.shape[0], img.shape[1])
    return img[y : y + ch, x : x + cw]


def common_area(gt, sr):
    """Both frames cut to their common top-left area (no-op when the sizes match)."""
    h = min(gt.shape[0], sr.shape[0])
    w = min(gt.shape[1], sr.shape[1])
    return gt[:h, :w], sr[:h, :w]


def psnr_y(gt, sr):
    """Official PSNR of two (already cropped) uint8 RGB frames: float Y, range 255 (inf if equal)."""
    return psnr(rgb_to_y(gt), rgb_to_y(sr), 255.0)


def ssim_y(gt, sr):
    """Official SSIM of two (already cropped) uint8 RGB frames on float Y.

    skimage defaults (7x7 uniform window, sample covariance), ``data_range`` = max - min
    of the SR luma (skimage's value is kept as is when the SR luma is flat, data range 0).
    """
    y_gt, y_sr = rgb_to_y(gt), rgb_to_y(sr)
    data_range = float(y_sr.max() - y_sr.min())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(structural_similarity(y_gt, y_sr, data_range=data_range))


def tof_frame(gt_prev_gray, gt_gray, sr_prev_gray, sr_gray):
    """tOF of one frame: mean EPE of the GT and SR flows (prev -> curr), flows cropped by crop_8x8."""
    return tof_frame_pair(gt_prev_gray, gt_gray, sr_prev_gray, sr_gray, crop=crop_8x8)


def natural_key(name):
    """Sort key ordering embedded numbers by value ('f2' before 'f10')."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def sorted_frames(folder):
    """Image files of a folder, ordered by name with numbers compared by value.

    With zero-padded names (the usual ``0001.png``) this is the plain sorted order of the
    official code; with unpadded names it keeps the temporal order, and a warning says
    that the order differs from a plain sort.
    """
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: sequence folder not found")
    names = list_images(folder)
    if not names:
        raise UserError(f"{folder}: no image files (expected frames such as 0001.png)")
    ordered = sorted(names, key=natural_key)
    if ordered != sorted(names):
        warn(
            f"{folder}: frame names are not zero-padded; ordered by their numbers "
            f"({ordered[0]}, {ordered[1] if len(ordered) > 1 else ''}, ...), not by a plain sort"
        )
    return [os.path.join(folder, n) for n in ordered]


def _frame_number(stem):
    digits = re.findall(r"\d+", stem)
    return int(digits[-1]) if digits else None


def check_pairing(gt_paths, sr_paths, gt_dir, sr_dir):
    """SR frame k must be GT frame k's: the same name stem, or the same last number in the name
    (``output_0001.png`` is ``col_high_0001.png``'s, as the official results are named).
    The first pair that differs is one line (``--pair_by position`` pairs by order instead)."""

    def keys(paths):
        stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
        return set(stems) | {_frame_number(stem) for stem in stems} - {None}

    for gt, sr in zip(gt_paths, sr_paths, strict=False):
        g, s = (os.path.splitext(os.path.basename(p))[0] for p in (gt, sr))
        if g == s or (_frame_number(g) is not None and _frame_number(g) == _frame_number(s)):
            continue
        counts = f"{len(sr_paths)} SR frames, {len(gt_paths)} GT frames"
        if len(sr_paths) < len(gt_paths) and not {g, _frame_number(g)} - {None} & keys(sr_paths):
            raise UserError(f"{sr_dir}: no SR frame for the GT frame {gt} (a frame is missing: {counts})")
        if len(sr_paths) > len(gt_paths) and not {s, _frame_number(s)} - {None} & keys(gt_paths):
            raise UserError(f"{sr}: no GT frame of that name or number in {gt_dir} (an extra frame: {counts})")
        raise UserError(
            f"{sr}: paired with the GT frame {gt} by their order, but their names differ "
            f"(frames are paired by name); name the SR frames like the GT frames of {gt_dir}, "
            f"or pass --pair_by position to pair them by order"
        )
    counts = f"{len(sr_paths)} SR frames, {len(gt_paths)} GT frames"
    if len(sr_paths) < len(gt_paths):  # every pair matched, so the frames after the last SR one are missing
        raise UserError(f"{sr_dir}: no SR frame for the GT frame {gt_paths[len(sr_paths)]} (a frame is missing: {counts})")
    if len(sr_paths) > len(gt_paths):
        raise UserError(f"{sr_paths[len(gt_paths)]}: no GT frame of that name or number in {gt_dir} (an extra frame: {counts})")


# ----------------------------------------------------------------------------- sequences
class _FrameSource:
    """Frames of one sequence from a list of paths or arrays, checked for a constant size."""

    def __init__(self, frames, label):
        self.frames = frames
        self.label = label
        self.shape = None

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        item = self.frames[i]
        if isinstance(item, (str, os.PathLike)):
            img = read_image_rgb(os.fspath(item))
            where = os.fspath(item)
        else:
            img = np.asarray(item)
            where = f"{self.label} frame {i}"
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise UserError(f"{where}: expected a uint8 RGB (h, w, 3) array, got {img.dtype} {img.shape}")
        if self.shape is None:
            self.shape = img.shape
        elif img.shape != self.shape:
            raise UserError(
                f"{where}: frame size {img.shape[1]}x{img.shape[0]} differs from the "
                f"sequence's first evaluated frame ({self.shape[1]}x{self.shape[0]})"
            )
        return img


def evaluate_sequence(
    gt_frames, sr_frames, lpips_model=None, name="sequence", pool=None, batch_size=4, device="cpu", metrics=None
):
    """Official per-frame metrics of one sequence.

    ``gt_frames`` / ``sr_frames``: equally long lists of image paths or uint8 RGB arrays,
    in temporal order.  ``lpips_model``: from :func:`metrics.lpips_loader.load_lpips`, or
    None to skip LPIPS and tLP100.  ``pool``: an optional ``concurrent.futures`` executor
    that computes the optical flows while this thread does the rest.  ``metrics``: a subset
    of ``METRICS`` to compute (default: all that the model allows).

    Returns ``{metric: [per-frame values]}``: spatial lists have ``n - 4`` values, temporal
    ones ``n - 5``.
    """
    n = len(gt_frames)
    if len(sr_frames) != n:
        raise UserError(f"{name}: {len(sr_frames)} SR frames but {n} GT frames (expected one SR frame per GT frame)")
    if n < MIN_FRAMES:
        raise TooFewFrames(
            f"{name}: only {n} frame(s); the official procedure evaluates frames "
            f"[2, n-2), so a sequence needs at least {MIN_FRAMES} frames: "
            f"nothing to evaluate"
        )
    gt_src = _FrameSource(gt_frames, f"{name} GT")
    sr_src = _FrameSource(sr_frames, f"{name} SR")
    keys = METRICS if lpips_model is not None else ("PSNR", "SSIM", "tOF")
    if metrics is not None:
        if {"LPIPS", "tLP100"} & set(metrics) and lpips_model is None:
            raise UserError("LPIPS and tLP100 need an lpips_model")
        keys = tuple(m for m in METRICS if m in metrics)
    out = {k: [] for k in keys}
    indices = list(range(2, n - 2))
    prev_gray = None  # (gt, sr) grey frames of the previous evaluated frame
    prev_feats = None  # (gt, sr) LPIPS features of the previous evaluated frame
    size_warned = False
    for start in range(0, len(indices), max(1, int(batch_size))):
        chunk = indices[start : start + max(1, int(batch_size))]
        gts, srs, flow_jobs = [], [], []
        for i in chunk:
            gt, sr = gt_src[i], sr_src[i]
            if gt.shape != sr.shape:
                if not size_warned:
                    warn(
                        f"{name}: SR frames are {sr.shape[1]}x{sr.shape[0]}, GT frames "
                        f"{gt.shape[1]}x{gt.shape[0]}; both cut to their common top-left area"
                    )
                    size_warned = True
                gt, sr = common_area(gt, sr)
            gray = (to_gray(gt), to_gray(sr)) if "tOF" in out else None
            if prev_gray is not None:
                args = (prev_gray[0], gray[0], prev_gray[1], gray[1])
                flow_jobs.append(pool.submit(tof_frame, *args) if pool is not None else args)
            prev_gray = gray
            if i == indices[0]:  # name the sequence: the crop's own message cannot
                try:
                    crop_8x8_box(*gt.shape[:2])
                except UserError as err:
                    raise UserError(f"{name}: {err}") from None
            gts.append(crop_8x8(gt))
            srs.append(crop_8x8(sr))
        for gt, sr in zip(gts, srs, strict=False):
            if "PSNR" in out:
                out["PSNR"].append(psnr_y(gt, sr))
            if "SSIM" in out:
                out["SSIM"].append(ssim_y(gt, sr))
        if "LPIPS" in out or "tLP100" in out:
            prev_feats = _lpips_chunk(lpips_model, gts, srs, prev_feats, out, device)
        for job in flow_jobs:
            out["tOF"].append(job.result() if pool is not None else tof_frame(*job))
    return out


def _lpips_chunk(model, gts, srs, prev_feats, out, device):
    """LPIPS of a chunk of cropped frames and tLP100 against the previous frames."""

    dtype = next(model.parameters()).dtype
    with torch.inference_mode():
        fg = lpips_features(model, uint8_to_lpips_input(np.stack(gts), device, dtype))
        fs = lpips_features(model, uint8_to_lpips_input(np.stack(srs), device, dtype))
        if "LPIPS" in out:
            out["LPIPS"].extend(lpips_from_features(model, fg, fs).cpu().tolist())
        if prev_feats is not None:
            tg = [torch.cat([p, f]) for p, f in zip(prev_feats[0], fg, strict=False)]
            ts = [torch.cat([p, f]) for p, f in zip(prev_feats[1], fs, strict=False)]
        else:
            tg, ts = fg, fs
        if tg[0].shape[0] > 1 and "tLP100" in out:
            d_gt = lpips_from_features(model, [f[:-1] for f in tg], [f[1:] for f in tg])
            d_sr = lpips_from_features(model, [f[:-1] for f in ts], [f[1:] for f in ts])
            out["tLP100"].extend(((d_gt - d_sr).abs() * 100.0).cpu().tolist())
        return [f[-1:] for f in fg], [f[-1:] for f in fs]


# ----------------------------------------------------------------------------- folders
def evaluate_folders(pairs, lpips_model, pool=None, batch_size=4, device="cpu", log=print, metrics=None, pair_by="name"):
    """Evaluate ``[(name, sr_dir, gt_dir), ...]``; sequences that cannot be evaluated are skipped.

    ``pair_by``: "name" (SR and GT frames must match by name: :func:`check_pairing`) or
    "position" (the official code's plain order).

    Returns ``(report, frame_names, skipped)`` with ``skipped = [(name, reason)]``.
    Raises :class:`UserError` when no sequence could be evaluated.
    """

    per_sequence, frame_names, skipped = {}, {}, []
    for k, (name, sr_dir, gt_dir) in enumerate(pairs):
        t0 = time.time()
        try:
            gt_paths = sorted_frames(gt_dir)
            sr_paths = sorted_frames(sr_dir)
            if pair_by == "name":
                check_pairing(gt_paths, sr_paths, gt_dir, sr_dir)
            elif pair_by != "position":
                raise UserError(f"--pair_by {pair_by}: expected name or position")
            values = evaluate_sequence(
                gt_paths, sr_paths, lpips_model, name=name, pool=pool, batch_size=batch_size, device=device, metrics=metrics
            )
        except TooFewFrames as err:
            warn(f"{err}; skipped")
            skipped.append((name, str(err)))
            continue
        per_sequence[name] = values
        frame_names[name] = [os.path.basename(p) for p in gt_paths[2 : len(gt_paths) - 2]]
        n_eval = len(next(iter(values.values())))
        brief = "  ".join(f"{m} {fmt(mean(v), 4)}" for m, v in values.items())
        log(f"[{k + 1}/{len(pairs)}] {name}: {n_eval} frames in {time.time() - t0:.1f} s  {brief}")
    if not per_sequence:
        raise UserError("no sequence could be evaluated (each needs at least 5 frames)")
    return build_report(per_sequence), frame_names, skipped
