"""The official TecoGAN metric procedure (the numbers reported in papers).

Per sequence (frames paired GT/SR in sorted order):

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
import csv
import io
import math
import os
import re
import time

import numpy as np
from skimage.metrics import structural_similarity

from tecogan.metrics.functional import farneback_flow, mean_epe, psnr, rgb_to_y, to_gray
from tecogan.utils.errors import UserError, warn
from tecogan.utils.fileio import atomic_write_json, atomic_write_text, list_images, read_image_rgb

SPATIAL = ("PSNR", "SSIM", "LPIPS")
TEMPORAL = ("tOF", "tLP100")
METRICS = ("PSNR", "SSIM", "LPIPS", "tOF", "tLP100")
MIN_FRAMES = 5
CONVENTION = ("official TecoGAN metrics: frames [2, n-2) per sequence, crop_8x8, Y-PSNR, "
              "Y-SSIM (skimage, data_range=max-min of SR), LPIPS alex v0.1 on [-1,1] RGB, "
              "tOF Farneback(0.5,3,15,3,5,1.2,0) on grey frames, "
              "tLP100=|LPIPS(gt_prev,gt)-LPIPS(sr_prev,sr)|*100")


class TooFewFrames(UserError):
    """A sequence shorter than 5 frames: the official procedure has nothing to evaluate."""


# ----------------------------------------------------------------------------- frames
def crop_8x8_box(h, w):
    """(y, x, ch, cw): centred crop whose sides are the largest multiples of 32 <= size - 16."""
    ch = (h - 16) // 32 * 32
    cw = (w - 16) // 32 * 32
    if ch <= 0 or cw <= 0:
        raise UserError(f"frames of {w}x{h} are too small for the official crop_8x8 "
                        f"(each side needs at least 48 pixels)")
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def crop_8x8(img):
    """Centre crop of an (h, w, ...) array by :func:`crop_8x8_box` (a view)."""
    y, x, ch, cw = crop_8x8_box(img.shape[0], img.shape[1])
    return img[y:y + ch, x:x + cw]


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
    flow_gt = farneback_flow(gt_prev_gray, gt_gray)
    flow_sr = farneback_flow(sr_prev_gray, sr_gray)
    return mean_epe(crop_8x8(flow_gt), crop_8x8(flow_sr))


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
        warn(f"{folder}: frame names are not zero-padded; ordered by their numbers "
             f"({ordered[0]}, {ordered[1] if len(ordered) > 1 else ''}, ...), not by a plain sort")
    return [os.path.join(folder, n) for n in ordered]


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
                raise UserError(f"{where}: expected a uint8 RGB (h, w, 3) array, got "
                                f"{img.dtype} {img.shape}")
        if self.shape is None:
            self.shape = img.shape
        elif img.shape != self.shape:
            raise UserError(f"{where}: frame size {img.shape[1]}x{img.shape[0]} differs from the "
                            f"sequence's first evaluated frame ({self.shape[1]}x{self.shape[0]})")
        return img


def evaluate_sequence(gt_frames, sr_frames, lpips_model=None, name="sequence", pool=None,
                      batch_size=4, device="cpu"):
    """Official per-frame metrics of one sequence.

    ``gt_frames`` / ``sr_frames``: equally long lists of image paths or uint8 RGB arrays,
    in temporal order.  ``lpips_model``: from :func:`metrics.lpips_loader.load_lpips`, or
    None to skip LPIPS and tLP100.  ``pool``: an optional ``concurrent.futures`` executor
    that computes the optical flows while this thread does the rest.

    Returns ``{metric: [per-frame values]}``: spatial lists have ``n - 4`` values, temporal
    ones ``n - 5``.
    """
    n = len(gt_frames)
    if len(sr_frames) != n:
        raise UserError(f"{name}: {len(sr_frames)} SR frames but {n} GT frames "
                        f"(expected one SR frame per GT frame)")
    if n < MIN_FRAMES:
        raise TooFewFrames(f"{name}: only {n} frame(s); the official procedure evaluates frames "
                        f"[2, n-2), so a sequence needs at least {MIN_FRAMES} frames: "
                        f"nothing to evaluate")
    gt_src = _FrameSource(gt_frames, f"{name} GT")
    sr_src = _FrameSource(sr_frames, f"{name} SR")
    keys = METRICS if lpips_model is not None else ("PSNR", "SSIM", "tOF")
    out = {k: [] for k in keys}
    indices = list(range(2, n - 2))
    prev_gray = None        # (gt, sr) grey frames of the previous evaluated frame
    prev_feats = None       # (gt, sr) LPIPS features of the previous evaluated frame
    size_warned = False
    for start in range(0, len(indices), max(1, int(batch_size))):
        chunk = indices[start:start + max(1, int(batch_size))]
        gts, srs, flow_jobs = [], [], []
        for i in chunk:
            gt, sr = gt_src[i], sr_src[i]
            if gt.shape != sr.shape:
                if not size_warned:
                    warn(f"{name}: SR frames are {sr.shape[1]}x{sr.shape[0]}, GT frames "
                         f"{gt.shape[1]}x{gt.shape[0]}; both cut to their common top-left area")
                    size_warned = True
                gt, sr = common_area(gt, sr)
            gray = (to_gray(gt), to_gray(sr))
            if prev_gray is not None:
                args = (prev_gray[0], gray[0], prev_gray[1], gray[1])
                flow_jobs.append(pool.submit(tof_frame, *args) if pool is not None else args)
            prev_gray = gray
            gts.append(crop_8x8(gt))
            srs.append(crop_8x8(sr))
        for gt, sr in zip(gts, srs):
            out["PSNR"].append(psnr_y(gt, sr))
            out["SSIM"].append(ssim_y(gt, sr))
        if lpips_model is not None:
            prev_feats = _lpips_chunk(lpips_model, gts, srs, prev_feats, out, device)
        for job in flow_jobs:
            out["tOF"].append(job.result() if pool is not None else tof_frame(*job))
    return out


def _lpips_chunk(model, gts, srs, prev_feats, out, device):
    """LPIPS of a chunk of cropped frames and tLP100 against the previous frames."""
    import torch
    from tecogan.metrics.lpips_loader import lpips_features, lpips_from_features, uint8_to_lpips_input

    dtype = next(model.parameters()).dtype
    with torch.inference_mode():
        fg = lpips_features(model, uint8_to_lpips_input(np.stack(gts), device, dtype))
        fs = lpips_features(model, uint8_to_lpips_input(np.stack(srs), device, dtype))
        out["LPIPS"].extend(lpips_from_features(model, fg, fs).cpu().tolist())
        if prev_feats is not None:
            tg = [torch.cat([p, f]) for p, f in zip(prev_feats[0], fg)]
            ts = [torch.cat([p, f]) for p, f in zip(prev_feats[1], fs)]
        else:
            tg, ts = fg, fs
        if tg[0].shape[0] > 1:
            d_gt = lpips_from_features(model, [f[:-1] for f in tg], [f[1:] for f in tg])
            d_sr = lpips_from_features(model, [f[:-1] for f in ts], [f[1:] for f in ts])
            out["tLP100"].extend(((d_gt - d_sr).abs() * 100.0).cpu().tolist())
        return [f[-1:] for f in fg], [f[-1:] for f in fs]


# ----------------------------------------------------------------------------- reports
def _mean(values):
    return float(np.mean(np.asarray(values, dtype=np.float64))) if len(values) else None


def summarize(per_sequence):
    """``{metric: {frame_avg, folder_avg, n_frames}}`` from ``{seq: {metric: [values]}}``.

    An average over no values (e.g. tOF of 5-frame sequences only) is None.
    """
    summary = {}
    seqs = list(per_sequence)
    metrics = [m for m in METRICS if seqs and all(m in per_sequence[s] for s in seqs)]
    for m in metrics:
        lists = [per_sequence[s][m] for s in seqs]
        values = [v for vals in lists for v in vals]
        seq_means = [_mean(vals) for vals in lists if len(vals)]
        summary[m] = {"frame_avg": _mean(values), "folder_avg": _mean(seq_means),
                      "n_frames": len(values)}
    return summary


def build_report(per_sequence):
    """The metrics.json structure: sequences, per_sequence, summary, convention."""
    per = {s: {m: [float(v) for v in vals] for m, vals in d.items()} for s, d in per_sequence.items()}
    return {"sequences": list(per), "per_sequence": per, "summary": summarize(per),
            "convention": CONVENTION}


def _fmt(value, digits=6):
    if value is None:
        return "-"
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return str(value)
    return f"{value:.{digits}f}"


def format_summary(report, title=None, skipped=None):
    """Human-readable tables: per-sequence means, then frames / frame_avg / folder_avg."""
    summary = report["summary"]
    metrics = list(summary)
    lines = []
    if title:
        lines.append(title)
    width = max([8] + [len(s) for s in report["sequences"]])
    lines.append("sequence".ljust(width) + "".join(m.rjust(12) for m in metrics))
    for s in report["sequences"]:
        vals = report["per_sequence"][s]
        lines.append(s.ljust(width) + "".join(_fmt(_mean(vals[m])).rjust(12) for m in metrics))
    lines.append("")
    lines.append("metric".ljust(8) + "frames".rjust(8) + "frame_avg".rjust(14) + "folder_avg".rjust(14))
    for m in metrics:
        s = summary[m]
        lines.append(m.ljust(8) + str(s["n_frames"]).rjust(8) + _fmt(s["frame_avg"]).rjust(14)
                     + _fmt(s["folder_avg"]).rjust(14))
    for seq, why in (skipped or []):
        lines.append(f"skipped {seq}: {why}")
    return "\n".join(lines) + "\n"


def _csv_value(value):
    if value is None:
        return ""
    return repr(float(value))


def format_csv(report, frame_names=None):
    """metrics.csv: one row per evaluated frame, then per-sequence means, frame_avg, folder_avg.

    Columns ``sequence,frame,<metrics>``; temporal cells of a sequence's first evaluated
    frame are empty.  ``frame_names``: optional ``{seq: [GT file name per evaluated frame]}``.
    """
    metrics = list(report["summary"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sequence", "frame"] + metrics)
    for s in report["sequences"]:
        vals = report["per_sequence"][s]
        n_spatial = len(vals[metrics[0]]) if metrics else 0
        names = (frame_names or {}).get(s) or [str(i + 2) for i in range(n_spatial)]
        for j in range(n_spatial):
            row = [s, names[j]]
            for m in metrics:
                k = j - 1 if m in TEMPORAL else j
                row.append(_csv_value(vals[m][k]) if 0 <= k < len(vals[m]) else "")
            writer.writerow(row)
    for s in report["sequences"]:
        writer.writerow([s, "mean"] + [_csv_value(_mean(report["per_sequence"][s][m])) for m in metrics])
    for key in ("frame_avg", "folder_avg"):
        writer.writerow(["ALL", key] + [_csv_value(report["summary"][m][key]) for m in metrics])
    return buf.getvalue()


def write_outputs(out_dir, report, frame_names=None, title=None, skipped=None):
    """Write metrics.json, metrics.csv and metricsfile.txt into ``out_dir`` (atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(os.path.join(out_dir, "metrics.json"), report, indent=1)
    atomic_write_text(os.path.join(out_dir, "metrics.csv"), format_csv(report, frame_names))
    atomic_write_text(os.path.join(out_dir, "metricsfile.txt"),
                      format_summary(report, title=title, skipped=skipped))


# ----------------------------------------------------------------------------- folders
def evaluate_folders(pairs, lpips_model, pool=None, batch_size=4, device="cpu", log=print):
    """Evaluate ``[(name, sr_dir, gt_dir), ...]``; sequences that cannot be evaluated are skipped.

    Returns ``(report, frame_names, skipped)`` with ``skipped = [(name, reason)]``.
    Raises :class:`UserError` when no sequence could be evaluated.
    """
    per_sequence, frame_names, skipped = {}, {}, []
    for k, (name, sr_dir, gt_dir) in enumerate(pairs):
        t0 = time.time()
        try:
            gt_paths = sorted_frames(gt_dir)
            sr_paths = sorted_frames(sr_dir)
            values = evaluate_sequence(gt_paths, sr_paths, lpips_model, name=name, pool=pool,
                                       batch_size=batch_size, device=device)
        except TooFewFrames as err:
            warn(f"{err}; skipped")
            skipped.append((name, str(err)))
            continue
        per_sequence[name] = values
        frame_names[name] = [os.path.basename(p) for p in gt_paths[2:len(gt_paths) - 2]]
        brief = "  ".join(f"{m} {_fmt(_mean(v), 4)}" for m, v in values.items())
        log(f"[{k + 1}/{len(pairs)}] {name}: {len(values['PSNR'])} frames in "
            f"{time.time() - t0:.1f} s  {brief}")
    if not per_sequence:
        raise UserError("no sequence could be evaluated (each needs at least 5 frames)")
    return build_report(per_sequence), frame_names, skipped


def make_pool(workers):
    """Thread pool for the optical flows (OpenCV releases the GIL), or None for ``workers`` <= 1."""
    if workers is None or workers <= 1:
        return None
    workers = min(int(workers), 64)
    import cv2
    from concurrent.futures import ThreadPoolExecutor
    cv2.setNumThreads(1)
    return ThreadPoolExecutor(max_workers=int(workers))


def default_workers():
    return max(1, min(4, os.cpu_count() or 1))


# ----------------------------------------------------------------------------- command lines
def add_runtime_args(parser):
    """Options shared by evaluate.py and metrics.py."""
    parser.add_argument("--lpips_weights", default=None, metavar="PATH",
                        help="ImageNet AlexNet 'features.*' state dict for LPIPS (default: "
                             "$TECOGAN_LPIPS_WEIGHTS, else torchvision's cache/download)")
    parser.add_argument("--device", default="auto",
                        help="device for LPIPS: auto (default), cpu, cuda or cuda:<k>")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="threads computing optical flows in parallel (default: "
                             "min(4, CPU count); 1 = no extra thread)")
    parser.add_argument("--batch_size", type=int, default=4,
                        help="frames per LPIPS batch (default 4)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing metrics.json / metrics.csv / metricsfile.txt (kept otherwise)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


OUTPUT_FILES = ("metrics.json", "metrics.csv", "metricsfile.txt")


def check_metric_outputs(out_dirs, pairs, overwrite=False, label="--output"):
    """Before the long work: each output folder and its three files are safe to write (not an
    input, not existing without ``overwrite``, writable)."""
    from tecogan.utils.outputs import FILE, PARENT, check_outputs
    outputs = []
    for out_dir in out_dirs:
        outputs.append((label, out_dir, PARENT))
        outputs += [("", os.path.join(out_dir, name), FILE) for name in OUTPUT_FILES]
    inputs = [(opt, folder) for _, sr_dir, gt_dir in pairs
              for opt, folder in (("--results", sr_dir), ("--targets", gt_dir))]
    check_outputs(outputs, inputs, overwrite)


def setup_runtime(args):
    """(lpips_model, pool, device) from the shared options."""
    from tecogan.metrics.lpips_loader import load_lpips
    from tecogan.utils.device import parse_device

    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected an integer >= 1")
    if args.batch_size < 1:
        raise UserError(f"--batch_size {args.batch_size}: expected an integer >= 1")
    device = parse_device(args.device)
    model = load_lpips(args.lpips_weights, device=device)
    return model, make_pool(args.workers), device
